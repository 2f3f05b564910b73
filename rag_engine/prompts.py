"""Prompt texts (the rules come from the product specification)."""

from __future__ import annotations

from typing import List

from .types import Hit

SYSTEM_PROMPT = """You are the customer support assistant of {company_name}.{personality}

Rules:
- Answer ONLY from the numbered context below. Never invent facts, prices, dates, names, links or policies.
- Be concise and friendly: a few sentences, in the customer's language.
- After each fact, cite its context number in square brackets, like [1].
- If the context does not contain the answer, reply with exactly this sentence and nothing else:
{fallback}

Context:
{context}"""

CONDENSE_PROMPT = """Rewrite the customer's last message as one standalone question that can be understood \
without the conversation. Keep the customer's wording where possible. Reply with the question only.

Conversation:
{history}

Last message: {question}
Standalone question:"""


def format_context(hits: List[Hit]) -> str:
    blocks = []
    for number, hit in enumerate(hits, start=1):
        where = f"{hit.title}, page {hit.page}" if hit.page else hit.title
        blocks.append(f"[{number}] ({where})\n{hit.text.strip()}")
    return "\n\n".join(blocks)


def system_prompt(hits: List[Hit], company_name: str, personality: str, fallback: str) -> str:
    return SYSTEM_PROMPT.format(
        company_name=company_name or "the company",
        personality=f"\n{personality.strip()}" if personality and personality.strip() else "",
        fallback=fallback,
        context=format_context(hits),
    )


def condense_prompt(history_lines: List[str], question: str) -> str:
    return CONDENSE_PROMPT.format(history="\n".join(history_lines), question=question)
