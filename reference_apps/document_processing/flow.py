"""The document flow: the pipeline pattern (extract -> validate -> transform) plus a store stage.

The pattern's compiled graph is one node of this graph, so every stage is
checkpointed on the document's own thread. The target database, not the
checkpoint, says what is done: a document whose rows it holds (same file
name, same text hash) is skipped without calling the model or writing. Any
other document runs: a thread that stopped part-way (a crash) resumes at the
stage it had reached; a thread that finished, though this database lacks its
rows (a new schema, emptied tables), starts again from the text. The store
stage writes transformed records to `invoices` and rejected ones, with the
validator's reasons, to `invoice_dead_letters`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from patterns import AgentContext
from patterns.presets import invoice_pipeline
from pydantic import BaseModel

from store import InvoiceStore, content_hash

__all__ = ["DocumentOutcome", "StoreContext", "build_document_flow", "process_document", "thread_id"]

Status = Literal["stored", "rejected", "done_earlier", "failed"]


@dataclass(frozen=True, slots=True)
class StoreContext(AgentContext):
    """The run context: the model for the pipeline's agents, and the store for the last stage."""

    store: InvoiceStore | None = None
    # Tests and the CLI's --crash-after use this to die at a chosen point.
    before_store: Callable[[str], None] | None = None


class DocumentState(TypedDict, total=False):
    document: str
    source: str
    result: dict[str, Any]  # the pipeline's output: {status, record, reasons}
    stored: str  # "invoices" or "invoice_dead_letters": where the store stage wrote


class DocumentOutcome(BaseModel):
    """What happened to one document in this run."""

    source: str
    thread_id: str
    status: Status
    invoice_id: str | None = None
    customer: str | None = None
    total_cents: int | None = None
    currency: str | None = None
    reasons: list[str] = []
    model_calls: int = 0


def _store_of(context: StoreContext) -> InvoiceStore:
    if context.store is None:
        raise RuntimeError("StoreContext.store is not set: open an InvoiceStore and pass it in the context")
    return context.store


async def store(state: DocumentState, runtime: Runtime[StoreContext]) -> DocumentState:
    ctx = runtime.context
    target = _store_of(ctx)
    if ctx.before_store is not None:
        ctx.before_store(state["source"])
    result = state["result"]
    # The hash comes from the text in the state, so the row records exactly the version it was made from.
    digest = content_hash(state["document"])
    if result["status"] == "transformed":
        await target.store_invoice(result["record"], state["source"], content_hash=digest)
        return {"stored": "invoices"}
    await target.dead_letter(state["source"], result["reasons"], result["record"], content_hash=digest)
    return {"stored": "invoice_dead_letters"}


def build_document_flow(*, checkpointer: Any = None) -> Any:
    """START -> pipeline (extract -> validate -> transform | reject) -> store -> END."""
    graph = StateGraph(DocumentState, context_schema=StoreContext)
    graph.add_node("pipeline", invoice_pipeline())
    graph.add_node("store", store)
    graph.add_edge(START, "pipeline")
    graph.add_edge("pipeline", "store")
    graph.add_edge("store", END)
    return graph.compile(checkpointer=checkpointer, name="document_processing")


def thread_id(path: Path, text: str) -> str:
    """One thread per document version: editing a file starts a new thread, re-running does not."""
    return f"{path.stem}-{content_hash(text)[:12]}"


class CallCounter(BaseCallbackHandler):
    """Counts model calls of any provider, scripted or real."""

    run_inline = True

    def __init__(self) -> None:
        self.calls = 0

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.calls += 1


async def process_document(graph: Any, path: Path, context: StoreContext) -> DocumentOutcome:
    """Skip, resume or run the document at `path` on its thread; never raises for a flow failure."""
    text = path.read_text(encoding="utf-8")
    thread = thread_id(path, text)
    counter = CallCounter()
    config: RunnableConfig = {"configurable": {"thread_id": thread}, "callbacks": [counter]}
    try:
        # Done means stored in this database. A finished checkpoint is no proof: the checkpoint file is
        # shared by every --db and --schema, and it outlives tables that are emptied or dropped.
        held = await _store_of(context).stored(path.name, content_hash(text))
        if held is not None:
            return _outcome(path.name, thread, "done_earlier", held, 0)
        snapshot = await graph.aget_state(config)
        if snapshot.created_at is not None and not snapshot.next:
            # The thread finished, yet its rows are not here: its work went to another target or was
            # deleted since. Start the document again on a clean thread rather than trust that state.
            await graph.checkpointer.adelete_thread(thread)
            snapshot = await graph.aget_state(config)
        # A thread stopped part-way resumes from its checkpoint (input None); a new one starts from the text.
        start = None if snapshot.created_at is not None else {"document": text, "source": path.name}
        values = await graph.ainvoke(start, config, context=context, durability="sync")
    except Exception as exc:  # one bad document must not stop the batch; its thread resumes next run
        return DocumentOutcome(
            source=path.name,
            thread_id=thread,
            status="failed",
            reasons=[f"{type(exc).__name__}: {exc}"],
            model_calls=counter.calls,
        )
    status: Status = "stored" if values["stored"] == "invoices" else "rejected"
    return _outcome(path.name, thread, status, values, counter.calls)


def _outcome(source: str, thread: str, status: Status, values: dict[str, Any], calls: int) -> DocumentOutcome:
    result = values.get("result") or {}
    record = result.get("record") or {}
    return DocumentOutcome(
        source=source,
        thread_id=thread,
        status=status,
        invoice_id=record.get("invoice_id"),
        customer=record.get("customer"),
        total_cents=record.get("total_cents"),
        currency=record.get("currency"),
        reasons=result.get("reasons") or [],
        model_calls=calls,
    )
