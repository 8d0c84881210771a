"""``predict_files``: requests in flight side by side, answers in input order, failures kept.

A real HTTP server on 127.0.0.1 (stdlib, threaded) stands in for the transformer: it
answers a Verdict for ``*.wav`` bodies and 415 for anything else, slowly enough that
requests overlap when ``concurrency`` allows.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from veracity.errors import InputError, ServingError
from veracity.serving.client import predict_files


class _Handler(BaseHTTPRequestHandler):
    in_flight = 0
    most = 0
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["content-length"]))
        cls = type(self)
        with cls.lock:
            cls.in_flight += 1
            cls.most = max(cls.most, cls.in_flight)
        time.sleep(0.05)
        with cls.lock:
            cls.in_flight -= 1
        if self.headers["content-type"] == "audio/wav":
            code, reply = 200, {"label": "HUMAN", "echo": body.decode()}
        else:
            code, reply = 415, {"error": "expected audio"}
        data = json.dumps(reply).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # quiet test output
        pass


@pytest.fixture()
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.most = 0
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("concurrency", [1, 3])
def test_answers_in_input_order_with_failures_kept(server, tmp_path, concurrency):
    paths = []
    for i in range(7):
        p = tmp_path / (f"clip{i}.wav" if i != 3 else "clip3.txt")
        p.write_text(f"clip{i}")
        paths.append(p)
    paths.append(tmp_path / "missing.wav")
    answers = predict_files(paths, server, "m", 5.0, concurrency=concurrency)
    assert len(answers) == len(paths)
    for i, answer in enumerate(answers[:7]):
        if i == 3:
            assert isinstance(answer, ServingError) and "415" in str(answer)
        else:
            assert answer["echo"] == f"clip{i}"
    assert isinstance(answers[7], InputError)
    assert _Handler.most == 1 if concurrency == 1 else _Handler.most >= 2


def test_concurrency_must_be_positive(tmp_path):
    with pytest.raises(InputError, match="concurrency"):
        predict_files([], "http://127.0.0.1:9", "m", concurrency=0)
