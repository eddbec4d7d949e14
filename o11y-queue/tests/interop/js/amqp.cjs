// A RabbitMQ client in Node.js, amqplib traced by
// @opentelemetry/instrumentation-amqplib, for the interop test. The SDK is
// set up by telemetry.cjs, as its documentation shows.
//
//     node amqp.cjs publish|consume AMQP_URL QUEUE
//
// publish: sends one message to QUEUE inside a span of its own, confirmed.
// consume: handles one message from QUEUE (at most 20 s), acks it, exits.
// The queue is declared as the Rust transport declares it (durable, quorum).
'use strict';

const { trace } = require('@opentelemetry/api');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { AmqplibInstrumentation } = require('@opentelemetry/instrumentation-amqplib');
const { install } = require('./telemetry.cjs');

const provider = install();
registerInstrumentations({ instrumentations: [new AmqplibInstrumentation()] });

// Loaded after the instrumentation, as its documentation asks.
const amqp = require('amqplib');

async function main() {
  const [mode, url, queue] = process.argv.slice(2);
  const connection = await amqp.connect(url);
  const channel = await connection.createConfirmChannel();
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  if (mode === 'publish') {
    const tracer = trace.getTracer('interop');
    await tracer.startActiveSpan('node publisher', async (span) => {
      channel.sendToQueue(queue, Buffer.from('from node'), { persistent: true });
      await channel.waitForConfirms();
      span.end();
    });
  } else {
    await channel.prefetch(1);
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nothing arrived on ${queue}`)), 20000);
      channel.consume(queue, (message) => {
        if (message) {
          channel.ack(message);
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }
  await channel.close();
  await connection.close();
  await provider.shutdown();
}

main().catch((e) => {
  process.stderr.write(`${e.stack ?? e}\n`);
  process.exit(1);
});
