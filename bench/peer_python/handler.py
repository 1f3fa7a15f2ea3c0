"""The Python peer of s3gate's Lambda function, for scripts/bench-lambda.sh.

What a typical hand-written Python Lambda behind an API Gateway REST proxy
does to serve an S3 object: a boto3 client made once at import (init), then
per event get_object, read the whole body, answer it as base64. Run as
`python -m awslambdaric handler.handler` with this folder as the working
directory. Settings: BUCKET (default `images`), AWS_ENDPOINT_URL (the
embedded store), AWS_REGION.
"""

import base64
import json
import os

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

BUCKET = os.environ.get("BUCKET", "images")

# Made at init, reused by every invoke.
s3 = boto3.client(
    "s3",
    endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
    region_name=os.environ.get("AWS_REGION", "us-east-1"),
    config=Config(s3={"addressing_style": "path"}),
)


def _key(event):
    proxy = (event.get("pathParameters") or {}).get("proxy")
    return proxy if proxy else (event.get("path") or "").lstrip("/")


def handler(event, context):
    key = _key(event)
    try:
        obj = s3.get_object(Bucket=BUCKET, Key=key)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return {
                "statusCode": 404,
                "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"message": "not found", "key": key}),
                "isBase64Encoded": False,
            }
        raise
    body = obj["Body"].read()
    return {
        "statusCode": 200,
        "headers": {
            "Content-Type": obj.get("ContentType") or "application/octet-stream",
            "Content-Length": str(len(body)),
        },
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }
