// Payload formats: what a broker receives for one collected message.
export { encodePayload, preparePayload, writePayload, type PayloadFormat, type PreparedPayload } from './encode.js';
export { envelopeRecord, type EnvelopeRecord } from './envelope.js';
export { amqpProperties, RCPT_HEADER_BUDGET, type AmqpMessageProperties } from './amqp-properties.js';
