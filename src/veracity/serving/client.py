"""Client of the transformer: send one recording, get its Verdict."""

from __future__ import annotations

import mimetypes
from pathlib import Path

import httpx

from veracity.errors import InputError, ServingError

_AUDIO_TYPES = {
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".mp3": "audio/mpeg",
}


def predict_file(path: str | Path, url: str, model_name: str, timeout_s: float = 60.0) -> dict:
    """POST an audio file as a raw body to ``{url}/v1/models/{model_name}:predict``.

    Returns the Verdict dict; raises :class:`ServingError` with the server's message on any
    non-200 answer.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"expected an audio file at {path}, but there is no such file")
    content_type = _AUDIO_TYPES.get(path.suffix.lower()) or (
        mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )
    endpoint = f"{url.rstrip('/')}/v1/models/{model_name}:predict"
    try:
        reply = httpx.post(
            endpoint,
            content=path.read_bytes(),
            headers={"content-type": content_type},
            timeout=timeout_s,
        )
    except httpx.HTTPError as exc:
        raise ServingError(f"no answer from {endpoint} ({exc!r}); is the server running?") from exc
    if reply.status_code != 200:
        try:
            message = reply.json().get("error", reply.text)
        except ValueError:
            message = reply.text
        raise ServingError(f"{endpoint} answered {reply.status_code}: {message}")
    return reply.json()


def predict_files(
    paths: list[Path],
    url: str,
    model_name: str,
    timeout_s: float = 60.0,
    *,
    concurrency: int = 1,
    desc: str = "clips -> served stack",
) -> list[dict | ServingError | InputError]:
    """:func:`predict_file` for every path, ``concurrency`` requests in flight at a time.

    Results come back in the order of ``paths``: the Verdict dict, or the
    :class:`ServingError` / :class:`InputError` that clip raised (one bad clip never stops
    the others; the caller counts and reports them). With more than one request in flight
    the transformer prepares one clip while the predictor scores another, and the
    predictor's batcher can group their segments.
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    if concurrency < 1:
        raise InputError(f"expected concurrency >= 1, got {concurrency}")

    def one(path: Path) -> dict | ServingError | InputError:
        try:
            return predict_file(path, url, model_name, timeout_s)
        except (ServingError, InputError) as exc:
            return exc

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = pool.map(one, paths)
        return list(tqdm(results, total=len(paths), desc=desc, unit="clip", disable=None))
