"""The upload limit on AWS Lambda, from the platform's own numbers (no imports: config.py uses it).

Behind API Gateway (REST, Lambda proxy), a request reaches the function as one JSON event in a
synchronous invoke, and Lambda refuses an invoke payload over 6 MB (6,291,456 bytes). The body
is in that event base64-encoded (binary media types), so 4 bytes of event per 3 bytes of body.
Around the body the event repeats every header twice (`headers` and `multiValueHeaders`; API
Gateway caps the request line and headers at 10,240 bytes), the query string twice and the
request context. So:

    event budget for the body      6,291,456 - 32,768 (envelope)  = 6,258,688 bytes of base64
    multipart body that fits       6,258,688 / 4 * 3              = 4,694,016 bytes
    the avatar file                4,694,016 - 65,536 (the text fields and the multipart
                                   framing: the room Settings.max_request_bytes allows)
                                                                  = 4,628,480 bytes (4,520 KiB)

A file up to that size reaches the handler, which refuses a larger one with the JSON 413; a
request too large for the invoke never reaches it (see cdk/README.md, "Serverless target").
"""

KIB = 1024
# Lambda's limit on a synchronous invoke's request payload: "6 MB", in bytes.
INVOKE_PAYLOAD_LIMIT = 6 * 1024 * KIB
# Everything in the event but the body, with room to spare: the two copies of at most 10 KiB of
# headers, the query string twice, the request context and JSON escaping.
EVENT_ENVELOPE_BYTES = 32 * KIB
# The multipart framing and the text fields around the avatar (name, email, boundaries).
FORM_OVERHEAD_BYTES = 64 * KIB


def base64_decoded_size(encoded_bytes: int) -> int:
    """The most bytes whose base64 form fits in `encoded_bytes`."""
    return encoded_bytes // 4 * 3


LAMBDA_AVATAR_MAX_BYTES = (
    base64_decoded_size(INVOKE_PAYLOAD_LIMIT - EVENT_ENVELOPE_BYTES) - FORM_OVERHEAD_BYTES
)
