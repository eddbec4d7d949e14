"""A Python service traced with the OpenTelemetry SDK (Flask and requests
instrumentation), for the cross-language test (scenario D).

    python service.py PORT RUST_URL SPANS_FILE [REDIS_URL QUEUE]

GET /start calls the Rust service's /call/b, which calls back into this
service's GET /process. GET /publish adds a job to the Redis stream QUEUE,
the trace context in the body's `traceContext` field, inside a PRODUCER
span. Every finished span is written to SPANS_FILE as one JSON object per
line.
"""

import json
import sys

import requests
from flask import Flask
from opentelemetry import trace
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

port, rust_url, spans_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
redis_url, queue = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else (None, None)

out = open(spans_file, "a", buffering=1)
provider = TracerProvider(resource=Resource.create({"service.name": "python-service"}))
provider.add_span_processor(
    SimpleSpanProcessor(
        ConsoleSpanExporter(out=out, formatter=lambda span: span.to_json(indent=None) + "\n")
    )
)
trace.set_tracer_provider(provider)

app = Flask(__name__)
FlaskInstrumentor().instrument_app(app, excluded_urls="health")
RequestsInstrumentor().instrument()


@app.get("/health")
def health():
    return "ok"


@app.get("/start")
def start():
    answer = requests.get(f"{rust_url}/call/b", timeout=10)
    return {"rust": answer.status_code, "body": answer.text}, answer.status_code


@app.get("/process")
def process():
    return {"service": "python-service", "result": "processed"}


@app.get("/publish")
def publish():
    import redis
    from opentelemetry.propagate import inject

    tracer = trace.get_tracer("python-service")
    with tracer.start_as_current_span(f"send {queue}", kind=trace.SpanKind.PRODUCER):
        carrier = {}
        inject(carrier)
        body = json.dumps({"job": "from python", "traceContext": carrier})
        redis.Redis.from_url(redis_url).xadd(queue, {"payload": body})
    return {"published": queue}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=port, threaded=True)
