// An SQS client in Node.js, the AWS SDK v3 traced by
// @opentelemetry/instrumentation-aws-sdk, for the interop test. The SDK is
// set up by telemetry.cjs, as its documentation shows.
//
//     node sqs.cjs publish|consume ENDPOINT_URL QUEUE
//
// publish: sends one message to QUEUE inside a span of its own.
// consume: receives one message from QUEUE (at most 20 s), deletes it, exits.
'use strict';

const { trace } = require('@opentelemetry/api');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { AwsInstrumentation } = require('@opentelemetry/instrumentation-aws-sdk');
const { install } = require('./telemetry.cjs');

const provider = install();
registerInstrumentations({ instrumentations: [new AwsInstrumentation()] });

// Loaded after the instrumentation, as its documentation asks.
const {
  SQSClient,
  GetQueueUrlCommand,
  SendMessageCommand,
  ReceiveMessageCommand,
  DeleteMessageCommand,
} = require('@aws-sdk/client-sqs');

async function main() {
  const [mode, endpoint, queue] = process.argv.slice(2);
  const sqs = new SQSClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: queue }));
  if (mode === 'publish') {
    const tracer = trace.getTracer('interop');
    await tracer.startActiveSpan('node publisher', async (span) => {
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'from node' }));
      span.end();
    });
  } else {
    let handled = 0;
    const deadline = Date.now() + 20000;
    while (!handled && Date.now() < deadline) {
      const received = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 1 }),
      );
      for (const message of received.Messages ?? []) {
        handled += 1;
        await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: message.ReceiptHandle }));
      }
    }
    if (!handled) {
      throw new Error(`nothing arrived on ${queue}`);
    }
  }
  await provider.shutdown();
}

main().catch((e) => {
  process.stderr.write(`${e.stack ?? e}\n`);
  process.exit(1);
});
