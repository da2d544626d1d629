from lib.http_conditional import http_date_seconds, not_modified

STAMP = "Thu, 03 Dec 2026 07:00:00 GMT"
SECONDS = 1796281200


def test_if_none_match_decides_when_sent_and_if_modified_since_otherwise() -> None:
    assert http_date_seconds(STAMP) == SECONDS
    assert not_modified('"a", W/"b"', None, '"b"', SECONDS)
    assert not_modified("*", None, '"x"', SECONDS)
    assert not not_modified('"a"', STAMP, '"b"', SECONDS)  # If-Modified-Since ignored when If-None-Match is sent
    assert not_modified(None, STAMP, '"b"', SECONDS + 0.9)  # whole seconds
    assert not not_modified(None, STAMP, '"b"', SECONDS + 1)
    assert not not_modified(None, "yesterday", '"b"', SECONDS)
    assert not not_modified(None, None, '"b"', SECONDS)
