"""A stand-in for S3 and CloudFormation at AWS_ENDPOINT_URL that records every call
(RecordingEndpoint), and the environment AWS's CLIs need to talk to it."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from support.processes import base_env


class RecordingEndpoint(BaseHTTPRequestHandler):
    """Stands in for S3 and CloudFormation at AWS_ENDPOINT_URL: records each call,
    keeps uploads as a versioned bucket does (`objects`: (bucket, key) -> versions),
    describes the stack as deployed before (from the same template: `parameters`;
    with `outputs`), and refuses the change set, so that `sam deploy` stops right
    after the calls that show what it would deploy, and how."""

    calls: list[dict]
    parameters: list[str]
    objects: dict[tuple[str, str], list[tuple[str, bytes]]]
    outputs: dict[str, str]
    uploads: dict[str, dict[int, bytes]]  # multipart uploads under way: their parts
    protocol_version = "HTTP/1.1"
    XMLNS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep pytest's output clean

    def answer(self, status: int, body: str = "", headers: dict | None = None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body.encode())))
        self.end_headers()
        self.wfile.write(body.encode())

    def result(self, action: str, body: str):
        self.answer(
            200,
            f'<{action}Response xmlns="{self.XMLNS}"><{action}Result>{body}'
            f"</{action}Result><ResponseMetadata><RequestId>1</RequestId>"
            f"</ResponseMetadata></{action}Response>",
            {"Content-Type": "text/xml"},
        )

    def do_HEAD(self):
        bucket, _, key = urlsplit(self.path).path.lstrip("/").partition("/")
        self.calls.append({"action": "s3:GetObject", "bucket": bucket, "key": key})
        versions = self.objects.get((bucket, key))
        if not versions:
            self.answer(404)
            return
        version, body = versions[-1]
        self.send_response(200)
        self.send_header("x-amz-version-id", version)
        self.send_header("ETag", '"0"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()

    def put(self, bucket: str, key: str, body: bytes) -> str:
        versions = self.objects.setdefault((bucket, key), [])
        version = f"v{sum(len(v) for v in self.objects.values())}"
        versions.append((version, body))
        self.calls.append(
            {"action": "s3:PutObject", "bucket": bucket, "key": key, "version": version}
        )
        return version

    def do_PUT(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding", "").startswith("aws-chunked"):
            body = dechunk(body)
        url = urlsplit(self.path)
        bucket, _, key = url.path.lstrip("/").partition("/")
        query = parse_qs(url.query)
        if "uploadId" in query:  # a part of a multipart upload (s3:PutObject in IAM)
            parts = self.uploads[query["uploadId"][0]]
            parts[int(query["partNumber"][0])] = body
            self.answer(200, headers={"ETag": f'"{len(parts)}"'})
            return
        version = self.put(bucket, key, body)
        self.answer(200, headers={"ETag": '"0"', "x-amz-version-id": version})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        url = urlsplit(self.path)
        if url.path != "/":  # S3's multipart upload: a large built function
            self.rfile.read(length)
            bucket, _, key = url.path.lstrip("/").partition("/")
            query = parse_qs(url.query, keep_blank_values=True)
            if "uploads" in query:
                upload = f"upload{len(self.uploads)}"
                self.uploads[upload] = {}
                body = f"<UploadId>{upload}</UploadId>"
                action = "InitiateMultipartUploadResult"
                headers = {}
            else:
                parts = self.uploads.pop(query["uploadId"][0])
                whole = b"".join(parts[n] for n in sorted(parts))
                headers = {"x-amz-version-id": self.put(bucket, key, whole)}
                body = '<ETag>"0"</ETag>'
                action = "CompleteMultipartUploadResult"
            self.answer(
                200,
                f"<{action}><Bucket>{bucket}</Bucket><Key>{key}</Key>{body}</{action}>",
                {"Content-Type": "application/xml", **headers},
            )
            return
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        action = form.pop("Action")
        self.calls.append({"action": f"cloudformation:{action}", **form})
        if action == "DescribeStacks":
            name = form["StackName"]
            outputs = "".join(
                f"<member><OutputKey>{k}</OutputKey><OutputValue>{v}</OutputValue>"
                "</member>"
                for k, v in self.outputs.items()
            )
            self.result(
                action,
                f"<Stacks><member><StackName>{name}</StackName><StackId>arn:aws:"
                f"cloudformation:eu-west-1:123456789012:stack/{name}/1</StackId>"
                "<StackStatus>UPDATE_COMPLETE</StackStatus><CreationTime>"
                "2026-01-01T00:00:00Z</CreationTime>"
                + (f"<Outputs>{outputs}</Outputs>" if outputs else "")
                + "</member></Stacks>",
            )
        elif action == "GetTemplateSummary":
            members = "".join(
                f"<member><ParameterKey>{p}</ParameterKey></member>"
                for p in self.parameters
            )
            self.result(action, f"<Parameters>{members}</Parameters>")
        else:
            body = (
                "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code>"
                "<Message>refused by the test's endpoint</Message></Error>"
                "<RequestId>1</RequestId></ErrorResponse>"
            )
            self.answer(400, body, {"Content-Type": "text/xml"})


def dechunk(body: bytes) -> bytes:
    """The payload of an aws-chunked upload (botocore's flexible checksums)."""
    payload, rest = b"", body
    while rest:
        size, _, rest = rest.partition(b"\r\n")
        length = int(size.split(b";")[0], 16)
        if length == 0:
            break
        payload, rest = payload + rest[:length], rest[length + 2 :]
    return payload


def aws_env(endpoint_url: str, home: Path) -> dict[str, str]:
    return {
        **base_env(),
        "HOME": str(home),
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "test-only",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_MAX_ATTEMPTS": "1",
        "SAM_CLI_TELEMETRY": "0",
    }
