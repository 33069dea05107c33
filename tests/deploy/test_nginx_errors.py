"""nginx's own error answers are JSON like the API's (`{"detail": ...}`), while Django's
errors pass through nginx untouched: the deploy templates rendered into Debian's nginx."""

import http.client
import json
import socket
import ssl

from tests.deploy.conftest import request


def connect(port: int) -> http.client.HTTPSConnection:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return http.client.HTTPSConnection("localhost", port, timeout=10, context=context)


def assert_nginx_json(response: http.client.HTTPResponse, status: int) -> str:
    assert response.status == status
    assert response.getheader("Content-Type") == "application/json"
    assert response.getheader("Strict-Transport-Security")
    return json.loads(response.body)["detail"]


def test_gunicorn_down_is_a_json_502(proxy_stack):
    gunicorn = proxy_stack["gunicorn"]
    gunicorn.terminate()
    gunicorn.wait(timeout=15)

    response = request(
        proxy_stack["https_port"], "/parking-spots/", {"Host": "localhost"}, tls=True
    )

    assert assert_nginx_json(response, 502) == "The service is unavailable; try again shortly."


def test_a_body_over_the_limit_is_a_json_413(proxy_stack):
    conn = connect(proxy_stack["https_port"])
    try:
        conn.putrequest("POST", "/reservations/", skip_host=True)
        conn.putheader("Host", "localhost")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(2 * 1024 * 1024))  # the stack's limit is 1m
        conn.endheaders()
        response = conn.getresponse()
        response.body = response.read()
    finally:
        conn.close()

    assert assert_nginx_json(response, 413) == "The request body is too large (limit 1m)."


def test_a_request_nginx_cannot_read_is_a_json_400(proxy_stack):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", proxy_stack["https_port"]), timeout=10)
    with context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX\x00: y\r\n\r\n")
        response = http.client.HTTPResponse(tls)
        response.begin()
        response.body = response.read()

    assert assert_nginx_json(response, 400) == "The request could not be read."


def test_djangos_own_errors_pass_through_untouched(proxy_stack):
    conn = connect(proxy_stack["https_port"])
    try:
        conn.request(
            "POST",
            "/stripe/webhook/",
            body=b'{"id": "evt_1"}',
            headers={"Host": "localhost", "Stripe-Signature": "t=1,v1=forged"},
        )
        response = conn.getresponse()
        body = json.loads(response.read())
    finally:
        conn.close()

    assert response.status == 400
    assert body == {"detail": "The Stripe-Signature header does not match the body."}


def test_behind_nginx_a_request_line_only_gunicorn_refuses_is_json(proxy_stack):
    """nginx reads request lines up to 8 KB and passes gunicorn's answer through untouched:
    the client sees gunicorn's JSON."""
    response = request(proxy_stack["https_port"], "/" + "a" * 5000, {"Host": "localhost"}, tls=True)

    assert response.status == 400
    assert response.getheader("Content-Type") == "application/json"
    assert json.loads(response.body)["detail"].startswith("Request Line is too large")
