"""A RabbitMQ client in Python, pika traced by
opentelemetry-instrumentation-pika, for the interop test.

    python amqp.py publish|consume AMQP_URL QUEUE

publish: sends one message to QUEUE inside a span of its own.
consume: handles one message from QUEUE (at most 20 s), then exits.
The queue is declared as the Rust transport declares it (durable, quorum).
"""

import sys

import pika
from opentelemetry import trace
from opentelemetry.instrumentation.pika import PikaInstrumentor

import telemetry

mode, url, queue = sys.argv[1], sys.argv[2], sys.argv[3]
provider = telemetry.install("python-amqp")
PikaInstrumentor().instrument()

connection = pika.BlockingConnection(pika.URLParameters(url))
channel = connection.channel()
channel.queue_declare(queue=queue, durable=True, arguments={"x-queue-type": "quorum"})

if mode == "publish":
    channel.confirm_delivery()
    with trace.get_tracer("interop").start_as_current_span("python publisher"):
        channel.basic_publish(exchange="", routing_key=queue, body=b"from python")
else:
    handled = []

    def on_message(ch, method, properties, body):
        handled.append(body)
        ch.basic_ack(delivery_tag=method.delivery_tag)
        ch.stop_consuming()

    channel.basic_consume(queue=queue, on_message_callback=on_message)
    connection.call_later(20, channel.stop_consuming)
    channel.start_consuming()
    if not handled:
        sys.exit(f"nothing arrived on {queue}")

connection.close()
provider.shutdown()
