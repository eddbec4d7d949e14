// The OpenTelemetry JS SDK set up as its documentation shows: a tracer
// provider registered with its default W3C `tracecontext` and `baggage`
// propagators, and an exporter writing every finished span to stdout as one
// JSON object per line, in the shape the Python side prints, for the Rust
// test to read.
'use strict';

const { SpanKind } = require('@opentelemetry/api');
const { NodeTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-node');

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

function install() {
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(printer)] });
  provider.register();
  return provider;
}

module.exports = { install };
