"""Lean HTTP/1.1 serving for gunicorn workers: plain requests on a short path, the rest on gunicorn's code."""

from __future__ import annotations

from .heap import settle_heap as settle_heap
from .loop import LeanLoop as LeanLoop
from .loop import Replay as Replay
from .plain import Plain as Plain
from .plain import parse_plain as parse_plain
from .threads import ThreadWorker as ThreadWorker
from .wsgi import build_environ as build_environ
from .wsgi import http_date as http_date
from .wsgi import respond as respond
