// An SQS client in Node.js, the AWS SDK v3 traced by
// @opentelemetry/instrumentation-aws-sdk, for the interop test. The SDK is
// set up as its documentation shows (`provider.register()`: the W3C
// `tracecontext` and `baggage` propagators); every finished span is written
// to stdout as one JSON line, in the shape the Python side prints.
//
//     node sqs.cjs publish|consume ENDPOINT_URL QUEUE
//
// publish: sends one message to QUEUE inside a span of its own.
// consume: receives one message from QUEUE (at most 20 s), deletes it, exits.
'use strict';

const { trace, SpanKind } = require('@opentelemetry/api');
const { NodeTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-node');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { AwsInstrumentation } = require('@opentelemetry/instrumentation-aws-sdk');

const hex = (id) => (id ? `0x${id}` : null);
const printer = {
  export(spans, done) {
    for (const span of spans) {
      const context = span.spanContext();
      const line = {
        name: span.name,
        kind: `SpanKind.${SpanKind[span.kind]}`,
        context: { trace_id: hex(context.traceId), span_id: hex(context.spanId) },
        parent_id: hex(span.parentSpanContext?.spanId),
        links: span.links.map((l) => ({
          context: { trace_id: hex(l.context.traceId), span_id: hex(l.context.spanId) },
        })),
      };
      process.stdout.write(`${JSON.stringify(line)}\n`);
    }
    done({ code: 0 });
  },
  shutdown: async () => {},
};
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(printer)] });
provider.register();
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
