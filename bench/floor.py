"""The floor: the least a Flask route can do under the same gunicorn settings."""

from flask import Flask, Response, jsonify

app = Flask(__name__)


@app.get("/")
def floor() -> Response:
    """A small JSON body, as our endpoints answer."""
    return jsonify(active=True, scope="StudentLite", client_id="floor")
