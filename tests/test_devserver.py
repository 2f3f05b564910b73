"""`make run`'s first-run setup: a demo company whose key, staff login and documents work."""

import re

from app.devserver import demo_company


def test_first_run_creates_a_working_demo_company(app, client, run_jobs):
    with app.app_context():
        text = demo_company(app, "http://127.0.0.1:5000")
        assert demo_company(app, "http://127.0.0.1:5000") == text  # second run: same credentials, nothing new
    key = re.search(r"API key:\s+(\S+)", text).group(1)
    headers = {"Authorization": f"Bearer {key}"}
    run_jobs()
    documents = client.get("/api/knowledge/documents/", headers=headers).get_json()["documents"]
    assert len(documents) == 3 and {d["status"] for d in documents} == {"completed"}
    answer = client.post("/api/chat/message/", json={"message": "Is the store open on Sundays?"}, headers=headers)
    assert answer.get_json()["answered"] and "Sunday" in answer.get_json()["response"]
