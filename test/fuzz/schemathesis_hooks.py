# schemathesis hooks for the API fuzz test (test/fuzz/api-schemathesis.test.ts): raw messages are message/rfc822,
# which schemathesis has no serializer for; generated values are sent as their UTF-8 bytes.
import schemathesis


@schemathesis.serializer("message/rfc822")
def rfc822(ctx, value):
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogatepass")
