from tests.conftest import csrf_from


def show(label, r):
    print(label, r.status_code, dict(r.headers).get("Retry-After"), r.get_data(as_text=True)[:300])


def test_limit(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "3 per minute")
    app.config["PROPAGATE_EXCEPTIONS"] = False
    for _ in range(4):
        show("api422", client.post("/api/v1/auth/tokens", json={"username": "nobody"}))
    for _ in range(4):
        show("api", client.post("/api/v1/auth/tokens", json={"username": "nobody", "password": "x"}))
    app.config["PROPAGATE_EXCEPTIONS"] = None
    assert 0
