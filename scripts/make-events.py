#!/usr/bin/env python3
"""Writes events/*.json: API Gateway REST proxy events in the shape
`sam local generate-event apigateway aws-proxy` prints (stage dev, bucket
images). Run from the repository root: python3 scripts/make-events.py
tests/it/events.rs holds the answer each one must get."""
import json, copy, sys, urllib.parse
base_headers = {
    "Accept": "image/avif,image/webp,image/apng,image/*,*/*;q=0.8",
    "Accept-Encoding": "gzip, deflate, br",
    "CloudFront-Forwarded-Proto": "https",
    "CloudFront-Is-Desktop-Viewer": "true",
    "CloudFront-Is-Mobile-Viewer": "false",
    "CloudFront-Is-SmartTV-Viewer": "false",
    "CloudFront-Is-Tablet-Viewer": "false",
    "CloudFront-Viewer-Country": "US",
    "Host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
    "User-Agent": "curl/8.5.0",
    "Via": "2.0 0123456789abcdef0123456789abcdef.cloudfront.net (CloudFront)",
    "X-Amz-Cf-Id": "cDehVQoZnx43VYQb9j2-nvCh-9z396Uhbp027Y2JvkCPNLmGJHqlaA==",
    "X-Amzn-Trace-Id": "Root=1-5e66d96f-7491f09xmpl79d18acf3d050",
    "X-Forwarded-For": "198.51.100.7, 130.176.0.1",
    "X-Forwarded-Port": "443",
    "X-Forwarded-Proto": "https",
    "x-api-key": "dev-example-key-0123456789abcdef",
}
def event(name, key, method="GET", headers=None, api_key=True, path=None, n=0, query=None, body=None, b64=False):
    h = dict(base_headers)
    if headers: h.update(headers)
    if not api_key: h.pop("x-api-key")
    raw_path = path if path is not None else "/" + urllib.parse.quote(key or "", safe="/+")
    ev = {
        "body": body,
        "resource": "/{proxy+}" if key is not None else "/",
        "path": raw_path,
        "httpMethod": method,
        "isBase64Encoded": b64,
        "queryStringParameters": {k: v for k, v in query.items()} if query else None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"proxy": key} if key is not None else None,
        "stageVariables": None,
        "headers": h,
        "multiValueHeaders": {k: [v] for k, v in h.items()},
        "requestContext": {
            "accountId": "123456789012",
            "resourceId": "x1y2z3",
            "stage": "dev",
            "requestId": f"c6af9ac6-7b61-11e6-9a41-93e8deadb{n:03d}",
            "requestTime": "22/Nov/2026:09:00:00 +0000",
            "requestTimeEpoch": 1795338000000,
            "identity": {
                "cognitoIdentityPoolId": None, "accountId": None, "cognitoIdentityId": None,
                "caller": None, "accessKey": None, "sourceIp": "198.51.100.7",
                "cognitoAuthenticationType": None, "cognitoAuthenticationProvider": None,
                "userArn": None, "userAgent": "curl/8.5.0", "user": None,
                "apiKey": "dev-example-key-0123456789abcdef" if api_key else None,
                "apiKeyId": "k9j8h7g6f5" if api_key else None,
            },
            "path": "/dev" + raw_path,
            "resourcePath": "/{proxy+}" if key is not None else "/",
            "httpMethod": method,
            "apiId": "a1b2c3d4e5",
            "protocol": "HTTP/1.1",
            "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "a1b2c3d4e5",
            "extendedRequestId": "BQGojGHfoAMFhEw=",
        },
    }
    json.dump(ev, open(f"events/{name}.json", "w"), indent=2, ensure_ascii=False)
    open(f"events/{name}.json", "a").write("\n")
event("get-object", "partnerimages/67/28/67286576.jpeg", n=1)
event("head-object", "partnerimages/67/28/67286576.jpeg", method="HEAD", n=2)
event("not-found", "partnerimages/00/00/00000000.jpeg", n=3)
event("bad-key", "partnerimages/../../secrets/db.json", path="/partnerimages/../../secrets/db.json", n=4)
event("no-api-key", "partnerimages/67/28/67286576.jpeg", api_key=False, n=5)
event("get-svg", "icons/logo.svg", n=6)
event("get-encoded-key", "photos/summer 2026/beach+sea ☀.webp", n=7)
event("get-encoded-slash", "photos/sunset.webp", path="/photos%2Fsunset.webp", n=8)
event("method-not-allowed", "partnerimages/67/28/67286576.jpeg", method="POST", n=9)
JPEG_ETAG = '"482c66ad6cd47338da51491769f63d89"'
event("conditional", "partnerimages/67/28/67286576.jpeg", headers={"If-None-Match": JPEG_ETAG}, n=10)
event("precondition-failed", "partnerimages/67/28/67286576.jpeg", headers={"If-Match": '"0000"'}, n=11)
event("range", "partnerimages/67/28/67286576.jpeg", headers={"Range": "bytes=0-99"}, n=12)
event("range-unsatisfiable", "partnerimages/67/28/67286576.jpeg", headers={"Range": "bytes=5000-"}, n=13)
event("large-object", "partnerimages/67/28/67286576.jpeg", n=14)
event("list", "icons/", query={"limit": "100"}, n=15)
event("list-root", None, path="/", n=16)
event("put-redirect", "uploads/new-photo.jpeg", method="PUT", headers={"Content-Type": "image/jpeg"}, n=17)
event("delete-redirect", "uploads/new-photo.jpeg", method="DELETE", n=18)
event("preflight", "partnerimages/67/28/67286576.jpeg", method="OPTIONS", api_key=False,
      headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET",
               "Access-Control-Request-Headers": "x-api-key"}, n=19)
event("presign-get", "presign/partnerimages/67/28/67286576.jpeg", query={"method": "GET"}, n=20)
event("presign-put", "presign/uploads/new-photo.jpeg",
      query={"method": "PUT", "contentLength": "1792", "contentType": "image/jpeg"}, n=21)
# API Gateway base64-encodes binary bodies; this one claims to be and is not
# (lambda_http's decoder panics on it; s3gate answers 400).
event("bad-base64-body", "uploads/new-photo.jpeg", method="PUT", headers={"Content-Type": "image/jpeg"},
      body="%%% not base64 %%%", b64=True, n=22)
# Image transforms (README, "Image transforms") of the 1600x1200 sample photo.
PHOTO = "partnerimages/67/28/67286577.jpeg"
event("transform", PHOTO, query={"w": "400", "format": "webp", "q": "80"}, n=23)
event("transform-auto", PHOTO, query={"w": "320", "h": "320", "fit": "cover", "format": "auto"},
      headers={"Accept": "image/avif,image/webp,image/apng,image/*,*/*;q=0.8"}, n=24)
event("transform-bad-param", PHOTO, query={"w": "0"}, n=25)
# Stream mode (S3GATE_RESPONSE_MODE=stream): the 130 KB photo, streamed.
event("stream-object", PHOTO, n=26)
# Bucket mode (S3GATE_BUCKETS=images,new-bucket; the admin key's id
# k9j8h7g6f5 in S3GATE_ADMIN_KEY_IDS), the shape of AWS's tutorial "Create
# a REST API as an Amazon S3 proxy".
event("list-buckets", None, path="/", n=27)
event("create-bucket", "new-bucket", method="PUT", headers={"Content-Type": "application/xml"},
      body='<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
           '<LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>', n=28)
event("delete-bucket", "images", method="DELETE", n=29)
event("bucket-object", "images/partnerimages/67/28/67286576.jpeg", n=30)
# Opaque ids (S3GATE_ID_SECRET=events-id-secret-0123456789abcdef, bucket
# images): the id of partnerimages/67/28/67286576.jpeg, from GET /id/{key}.
OBJECT_ID = "ImRt-QyIVSdZFsEpixXI7Ec-3fWM0PULENLsGz-r2606KF4k5rPmm7Jb8RFN9Sm3RqHk3l4s-8E"
event("object-by-id", "o/" + OBJECT_ID, n=31)
