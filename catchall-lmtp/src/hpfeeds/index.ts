// Public surface of the hpfeeds library (imported as `catchall-lmtp/hpfeeds` from other workspaces).
export {
  OP,
  HEADER_SIZE,
  DEFAULT_MAX_FRAME,
  DEFAULT_LIMITS,
  authHash,
  encodeError,
  encodeInfo,
  encodeAuth,
  encodePublish,
  encodeSubscribe,
  encodeUnsubscribe,
  encodeFrame,
  publishFrameSize,
  FrameDecoder,
  type Frame,
  type FrameName,
  type FrameLimits,
  type FrameDecoderOptions,
} from './codec.js';
export {
  HpfeedsProtocolError,
  HpfeedsBrokerError,
  HpfeedsClientError,
  type HpfeedsProtocolErrorCode,
  type HpfeedsClientErrorCode,
} from './errors.js';
export { HpfeedsClient, type HpfeedsClientOptions, type HpfeedsTlsOptions, type HpfeedsMessage } from './client.js';
export { Backoff, type BackoffOptions } from './backoff.js';
