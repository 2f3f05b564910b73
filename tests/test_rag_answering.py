"""Answering: grounded answers with sources, the fallback gate, follow-ups, providers."""


import pytest

from rag_engine import DEFAULT_FALLBACK, KnowledgeBase, ProviderError, Settings
from tests.conftest import FIXTURES
from tests.fakes.openai_server import openai_server


@pytest.fixture
def acme(kb):
    kb.ingest("acme", FIXTURES / "policies.pdf")
    kb.ingest("acme", FIXTURES / "faq.html")
    return kb


def test_knowledge_question_answered_from_the_document_with_its_source(acme):
    answer = acme.answer("acme", "How long do I have to return an item?")
    assert answer.answered
    assert "30 days" in answer.text
    assert answer.sources and answer.sources[0].title == "policies.pdf" and answer.sources[0].page == 1
    assert "[1]" in answer.text


def test_unrelated_question_gets_the_fallback(acme):
    answer = acme.answer("acme", "What is the boiling point of mercury in Kelvin?")
    assert not answer.answered
    assert answer.text == DEFAULT_FALLBACK and answer.sources == []


def test_tenant_fallback_message_is_used(acme):
    answer = acme.answer("acme", "Who won the 1998 football world cup?", fallback_message="Ask our team at help@acme.")
    assert answer.text == "Ask our team at help@acme." and not answer.answered


def test_empty_knowledge_base_falls_back(kb):
    assert not kb.answer("nobody", "How long do I have to return an item?").answered


def test_follow_up_is_condensed_with_history(acme):
    history = [
        {"role": "customer", "content": "How long does shipping to Europe take?"},
        {"role": "assistant", "content": "Shipping to Europe takes 7 to 10 business days. [1]"},
    ]
    follow_up = acme.answer("acme", "and what does it cost?", history=history)
    assert follow_up.answered and "25 dollars" in follow_up.text
    assert "Europe" in follow_up.question  # the standalone question used for retrieval


def test_stream_answer_yields_the_same_answer_token_by_token(acme):
    stream = acme.stream_answer("acme", "When is the store open?")
    deltas = list(stream)
    assert len(deltas) > 3
    assert "".join(deltas).strip() == stream.text
    assert stream.answered and stream.sources[0].title == "faq.html"
    assert stream.text == acme.answer("acme", "When is the store open?").text


@pytest.fixture
def fake_openai():
    replies = {"text": "Unused items can be returned within 30 days of delivery [1]."}

    def reply(body):
        if "Standalone question" in body["messages"][-1]["content"]:
            return "How much does shipping to Europe cost?"
        return replies["text"]

    with openai_server(reply) as server:
        server.replies = replies
        yield server


def openai_kb(make_kb, server, provider="openai"):
    from rag_engine.llms import build_llm

    settings = Settings(llm_provider=provider, openai_api_key="sk-test", llm_base_url=server.url + "/v1",
                        llm_model="gpt-4o-mini", max_tokens=321)
    kb = make_kb(llm=build_llm(settings))
    kb.ingest("acme", FIXTURES / "policies.pdf")
    return kb


def test_openai_provider_request_shape_and_answer(make_kb, fake_openai):
    kb = openai_kb(make_kb, fake_openai)
    answer = kb.answer("acme", "How long do I have to return an item?", company_name="Acme Outdoor",
                       personality="Warm and brief.")
    assert answer.answered and answer.text.startswith("Unused items")
    assert [s.page for s in answer.sources] == [1]  # cited [1] only
    request = fake_openai.last("/chat/completions")
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-test"
    body = request.json()
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0.3 and body["max_tokens"] == 321
    system, user = body["messages"][0], body["messages"][-1]
    assert system["role"] == "system" and "Acme Outdoor" in system["content"] and "Warm and brief." in system["content"]
    assert "ONLY from the numbered context" in system["content"] and DEFAULT_FALLBACK in system["content"]
    assert "30 days of delivery" in system["content"] and "(policies.pdf, page 1)" in system["content"]
    assert user == {"role": "user", "content": "How long do I have to return an item?"}


def test_openai_provider_streams(make_kb, fake_openai):
    kb = openai_kb(make_kb, fake_openai)
    stream = kb.stream_answer("acme", "How long do I have to return an item?")
    deltas = list(stream)
    assert len(deltas) > 5 and "".join(deltas) == fake_openai.replies["text"]
    assert fake_openai.last("/chat/completions").json()["stream"] is True
    assert stream.answered and stream.sources[0].page == 1


def test_unrelated_question_makes_no_llm_call(make_kb, fake_openai):
    kb = openai_kb(make_kb, fake_openai)
    answer = kb.answer("acme", "What is the boiling point of mercury in Kelvin?")
    assert not answer.answered and answer.text == DEFAULT_FALLBACK
    assert fake_openai.requests == []


def test_llm_fallback_reply_is_not_answered(make_kb, fake_openai):
    kb = openai_kb(make_kb, fake_openai)
    fake_openai.replies["text"] = DEFAULT_FALLBACK
    answer = kb.answer("acme", "Can I return a tent I bought at a garage sale?")
    assert not answer.answered and answer.sources == []


def test_llm_condenses_follow_ups_and_sends_history(make_kb, fake_openai):
    kb = openai_kb(make_kb, fake_openai, provider="openai-compatible")
    history = [("customer", "How long does shipping to Europe take?"), ("assistant", "7 to 10 business days.")]
    answer = kb.answer("acme", "and the price?", history=history)
    assert answer.question == "How much does shipping to Europe cost?"
    condense, final = [r.json() for r in fake_openai.requests]
    assert "How long does shipping to Europe take?" in condense["messages"][0]["content"]
    roles = [m["role"] for m in final["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert "25 dollars" in final["messages"][0]["content"]  # retrieval used the standalone question


def test_provider_failure_is_a_provider_error(make_kb):
    from rag_engine.llms import build_llm

    settings = Settings(llm_provider="openai-compatible", llm_base_url="http://127.0.0.1:9/v1", llm_timeout=2)
    kb = make_kb(llm=build_llm(settings.with_overrides()))
    kb.llm.max_retries = 0
    kb.ingest("acme", FIXTURES / "policies.pdf")
    with pytest.raises(ProviderError):
        kb.answer("acme", "How long do I have to return an item?")


def test_openai_embeddings_are_batched(postgres_url, fake_openai):
    settings = Settings(database_url=postgres_url, table_name="openai_embed_test", embed_provider="openai",
                        openai_api_key="sk-test", openai_base_url=fake_openai.url + "/v1", chunk_size=40,
                        chunk_overlap=0, embed_batch_size=100)
    with KnowledgeBase(settings) as kb:
        result = kb.ingest("acme", FIXTURES / "policies.pdf")
        embedding_calls = [r.json() for r in fake_openai.requests if r.path.endswith("/embeddings")]
        assert result.chunk_count > 3
        assert len(embedding_calls) == 1 and len(embedding_calls[0]["input"]) == result.chunk_count
        assert embedding_calls[0]["model"] == "text-embedding-3-small"
        assert kb.retrieve("acme", "Europe shipping", mode="text")[0].page == 2


def test_both_fusions_rank_the_right_page_first(make_kb):
    for fusion in ("score", "rrf"):
        kb = make_kb(fusion=fusion)
        kb.ingest("acme", FIXTURES / "policies.pdf")
        retriever = kb.retriever("acme")
        assert retriever.fusion == fusion
        assert kb.retrieve("acme", "How much does shipping to Europe cost?", top_k=1)[0].page == 2


def test_a_short_new_question_mid_conversation_is_not_answered_with_the_turn_before(acme):
    # Two words of its own make it read as a follow-up, joined to the shipping question; but it does not
    # say it continues (no "and …", no pronoun) and no passage found holds its words.
    history = [
        {"role": "customer", "content": "How long does shipping to Europe take?"},
        {"role": "assistant", "content": "Shipping to Europe takes 7 to 10 business days. [1]"},
    ]
    stranger = acme.answer("acme", "What is the capital of Australia?", history=history)
    assert not stranger.answered, stranger.text
    assert acme.answer("acme", "and what does it cost?", history=history).answered  # a follow-up by its form


def test_each_ask_of_a_compound_question_is_answered_when_one_ask_outweighs_the_other(kb):
    # Twelve documents answer the first ask; one, whose rarer words weigh most in the whole question,
    # answers the second. Each ask gets its own best sentence, however the whole question ranks them.
    topics = ["primary care visits", "specialist visits", "emergency rooms", "urgent care clinics", "laboratory tests",
              "imaging scans", "physical therapy", "mental health counselling", "maternity care",
              "prescription refills", "outpatient surgery", "allergy testing"]
    for topic in topics:
        kb.ingest("acme", title=f"{topic}.md", text=(
            f"## Choosing providers for {topic}\n\nChoosing an in-network provider for {topic} keeps your out-of-pocket "
            f"costs lower, because in-network providers accept negotiated rates. An out-of-network provider for "
            f"{topic} may bill you for the difference, so your out-of-pocket costs are higher."))
    kb.ingest("acme", title="hospice.md", text="## Hospice care\n\nHospice care covers nursing visits, pain management, "
                                               "respite stays and bereavement counselling for the family.")
    answer = kb.answer("acme", "How does choosing an in-network provider affect my out-of-pocket costs, and what "
                               "does hospice care cover?")
    assert answer.answered, answer.text
    assert "bereavement counselling" in answer.text and "in-network provider for" in answer.text, answer.text
    assert {s.title for s in answer.sources} > {"hospice.md"}, answer.sources


def test_a_question_that_names_one_of_two_sibling_documents_is_answered_from_it(kb):
    # Two plans' booklets read alike; the Plus one says much more about prior authorization. Asked about
    # Northwind Standard, the passages composed from are mostly the Standard booklet's, and the answer opens on it.
    plus = "\n\n".join(
        f"## Prior authorization {n}\n\nPrior authorization for {service} is a review by Northwind Health of "
        f"whether the {service} is medically necessary before Northwind Health Plus pays for it. Prior authorization "
        f"requests for {service} are answered within 5 business days."
        for n, service in enumerate(["MRI scans", "inpatient stays", "outpatient surgery", "durable equipment",
                                     "specialty drugs", "home health care", "CT scans", "sleep studies",
                                     "genetic tests", "physical therapy", "infusion therapy", "hospice care"]))
    standard = "\n\n".join(
        [f"## Approval in advance\n\nUnder Northwind Standard, your doctor asks Northwind Health for approval before "
         f"certain services (prior authorization); without it you may pay the full cost."] +
        [f"## {topic.capitalize()}\n\nNorthwind Standard covers {topic} with a $30 copay; claims for {topic} are "
         f"filed by your provider. " + " ".join(f"Members may ask about {topic} at clinic number {n}, which keeps "
                                               f"records of every visit for {topic} for seven years."
                                               for n in range(12)) for topic in ["hearing tests", "eye exams", "lab work", "x-rays", "urgent care",
                                                   "allergy shots", "physical exams"]])
    kb.ingest("acme", title="Northwind_Health_Plus_Benefits_Details.md", text=plus)
    kb.ingest("acme", title="Northwind_Standard_Benefits_Details.md", text=standard)
    question = "What is prior authorization in Northwind Standard?"
    prepared = kb._prepare("acme", question, None)
    assert kb.list_documents("acme")[1].chunk_count >= 6
    assert sum(h.title == "Northwind_Standard_Benefits_Details.md" for h in prepared.hits) >= 6, prepared.hits
    answer = kb.answer("acme", question)
    assert answer.answered, answer.text
    assert answer.sources[0].title == "Northwind_Standard_Benefits_Details.md", answer.sources
    assert "full cost" in answer.text, answer.text


def test_a_follow_up_about_something_no_document_mentions_gets_the_fallback(acme):
    history = [
        {"role": "customer", "content": "How long does shipping to Europe take?"},
        {"role": "assistant", "content": "Shipping to Europe takes 7 to 10 business days. [1]"},
    ]
    assert not acme.answer("acme", "Is there a family version of it?", history=history).answered
    assert acme.answer("acme", "and what does it cost?", history=history).answered
