"""An SQS client in Python, boto3 traced by
opentelemetry-instrumentation-boto3sqs, for the interop test.

    python sqs.py publish|consume ENDPOINT_URL QUEUE

publish: sends one message to QUEUE inside a span of its own.
consume: receives one message from QUEUE (at most 20 s), handles it in the
loop the instrumentation expects, deletes it, then exits.
"""

import sys
import time

import boto3
from opentelemetry import trace
from opentelemetry.instrumentation.boto3sqs import Boto3SQSInstrumentor

import telemetry

mode, endpoint, queue = sys.argv[1], sys.argv[2], sys.argv[3]
provider = telemetry.install("python-sqs")
Boto3SQSInstrumentor().instrument()

sqs = boto3.client(
    "sqs",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
)
queue_url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]

if mode == "publish":
    with trace.get_tracer("interop").start_as_current_span("python publisher"):
        sqs.send_message(QueueUrl=queue_url, MessageBody="from python")
else:
    handled = 0
    deadline = time.monotonic() + 20
    while not handled and time.monotonic() < deadline:
        received = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1
        )
        for message in received.get("Messages", []):
            handled += 1
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    if not handled:
        sys.exit(f"nothing arrived on {queue}")

provider.shutdown()
