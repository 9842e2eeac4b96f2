"""Build the pattern notebooks from the cells written below.

The notebooks are generated so that they can be reviewed as code: edit this
file, then run

    python notebooks/_build.py

and commit both this script and the regenerated `*.ipynb` files (outputs
stripped, cell ids stable, so a rebuild without changes is a no-op).
`tests/test_notebooks.py` checks that the committed notebooks match this script
and executes every one of them top to bottom.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

Cell = tuple[str, str]  # ("md" | "code", source)


def md(text: str) -> Cell:
    return ("md", textwrap.dedent(text).strip())


def code(text: str) -> Cell:
    return ("code", textwrap.dedent(text).strip())


# -- cells shared by every notebook --------------------------------------------

SETUP_HELPERS = code(
    '''
    import io
    import uuid
    from collections import Counter
    from contextlib import AsyncExitStack

    import matplotlib.pyplot as plt
    from IPython.display import Image, Markdown, display

    plt.switch_backend("Agg")  # we render figures to PNG ourselves: same result in Jupyter, nbclient and CI


    def draw(graph):
        """The graph LangGraph compiled, as Mermaid (rendered by JupyterLab) and, with grandalf, as ASCII."""
        drawing = graph.get_graph()
        display(Markdown(f"```mermaid\\n{drawing.draw_mermaid()}\\n```"))
        try:
            print(drawing.draw_ascii())
        except ImportError:
            print("(pip install grandalf to see an ASCII drawing here as well)")


    def new_thread(name, **config):
        """A run config with a fresh thread id: each thread is one run's checkpoint history."""
        return {"configurable": {"thread_id": f"{name}-{uuid.uuid4().hex[:8]}"}, **config}


    def brief(value, width=90):
        text = repr(value)
        return text if len(text) <= width else text[: width - 3] + "..."


    async def show_history(graph, config):
        """Every checkpoint of a thread, oldest first: its step, and what each task of that step wrote."""
        snapshots = [s async for s in graph.aget_state_history(config)]
        for snapshot in reversed(snapshots):
            step, source = snapshot.metadata["step"], snapshot.metadata["source"]
            waiting = Counter(snapshot.next)
            upcoming = ", ".join(name if n == 1 else f"{name} x{n}" for name, n in waiting.items())
            print(f"step {step:>2} ({source:<6}) next: {upcoming or '(done)'}")
            by_name = {}
            for task in snapshot.tasks:
                by_name.setdefault(task.name, []).append(task)
            for name, tasks in by_name.items():
                done = [t for t in tasks if t.result is not None]
                failed = [t for t in tasks if t.error is not None]
                if len(tasks) > 3:  # a fan-out: summarise it
                    print(
                        f"    {name} x{len(tasks)}: {len(done)} wrote {sorted({k for t in done for k in t.result})}"
                        f", {len(failed)} failed, {len(tasks) - len(done) - len(failed)} not run"
                    )
                    continue
                for task in tasks:
                    if task.error is not None:
                        print(f"    {name} failed: {brief(task.error)}")
                    if task.interrupts:
                        print(f"    {name} interrupted: {brief(task.interrupts[0].value)}")
                    if task.result is None and task.error is None and not task.interrupts:
                        print(f"    {name}: not run yet")
                    verb = "then, on resume, wrote" if task.error is not None or task.interrupts else "wrote"
                    for key, value in (task.result or {}).items():
                        print(f"    {name} {verb} {key} = {brief(value)}")


    def calls(model):
        """Model calls per agent so far (the scripted model counts them), failed attempts in brackets."""
        return {
            agent: f"{usage.calls}" + (f" (+{usage.failures} failed)" if usage.failures else "")
            for agent, usage in sorted(model.brain.ledger.snapshot().items())
        }


    def show_figure(fig):
        """Display a matplotlib figure as a PNG image."""
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
        plt.close(fig)
        display(Image(buffer.getvalue()))
    '''
)


def checkpoint_cell(build: str, pattern: str) -> Cell:
    return code(
        f"""
        # One SQLite file under the working directory holds every thread of this notebook.
        # (`open_checkpointer("memory")` or `"postgresql://..."` would work the same way.)
        stack = AsyncExitStack()
        saver = await stack.enter_async_context(open_checkpointer("sqlite:///.orch/notebook-{pattern}.sqlite"))
        graph = {build}(checkpointer=saver)
        draw(graph)
        """
    )


CLOSE = [
    md(
        """
        ## Clean up

        Close the checkpointer's database connection. The checkpoints stay in the SQLite file
        under `.orch/`, so a new session can `aget_state` or resume any thread by its id.
        """
    ),
    code("await stack.aclose()"),
]

ARUN_MD = md(
    """
    ## The same run through `patterns.arun`

    `arun` wraps everything above: it validates the input, opens the checkpointer from a URL,
    sets the recursion limit and concurrency from the input, and returns a `RunResult` with
    per-step records, calls and tokens: the type the CLI and the benchmarks use.
    """
)


def arun_cell(pattern: str, show: str = "result.output") -> Cell:
    return code(
        f"""
        checkpoint = "sqlite:///.orch/notebook-{pattern}.sqlite"
        model = ScriptedChatModel()
        result = await arun("{pattern}", SAMPLES["{pattern}"], model=model, checkpoint=checkpoint)
        print(f"{{result.status}} in {{result.wall_time_s}} s, {{result.calls}} model calls")
        print(f"tokens: {{result.prompt_tokens}} prompt, {{result.completion_tokens}} completion")
        for step in result.steps[:8]:
            print(f"  {{step.agent:<12}} {{step.status:<6}} {{step.start:.4f}} -> {{step.end:.4f}} s")
        if len(result.steps) > 8:
            print(f"  ... and {{len(result.steps) - 8}} more steps")
        {show}
        """
    )


# -- pipeline ------------------------------------------------------------------

PIPELINE = [
    md(
        """
        # Pipeline: extract → validate → transform

        **What it is for.** Sequential stages where each one needs the previous one's output,
        here document processing: an *extractor* agent parses an invoice, a *validator* agent
        checks the record, and a *transformer* agent normalises it. A **validation gate**
        (a conditional edge) sends an invalid record to `reject`, which keeps the validator's
        reasons, instead of transforming it.

        Each stage is a node, so LangGraph writes a checkpoint after each one: an interrupted run
        resumes at the stage it had reached and never asks the model again for a stage that
        completed. This notebook:

        1. draws the graph LangGraph compiled,
        2. runs it on the deterministic scripted model with a SQLite checkpointer,
        3. walks the checkpoints (`aget_state`, `aget_state_history`),
        4. pauses a run before a node, and crashes one on a failing agent, then resumes both,
        5. changes the input so the gate rejects it.

        Everything runs offline; no cell calls a network service.
        """
    ),
    SETUP_HELPERS,
    code(
        """
        from patterns import AgentContext, FaultPolicy, ScriptedBrain, ScriptedChatModel, arun, open_checkpointer
        from patterns.pipeline import PipelineInput
        from patterns.presets import invoice_pipeline
        from patterns.samples import SAMPLES
        """
    ),
    md(
        """
        ## The graph

        Solid arrows are fixed edges, dotted ones are conditional: `validate` goes on to
        `transform` or to `reject`. The builder takes the checkpointer; the model is *not* part
        of the graph (it arrives at run time as context), so one compiled graph serves the
        scripted model and a real one.
        """
    ),
    checkpoint_cell("invoice_pipeline", "pipeline"),
    md(
        """
        ## Run it on the scripted model

        `ScriptedChatModel` computes real answers from the prompt (it parses the invoice), the
        same way every time. `resolve_model("openai:gpt-4o-mini")` would swap in a real model
        without touching the graph. The input is checked with the pattern's input model first;
        the thread id names this run's checkpoints.
        """
    ),
    code(
        """
        print(SAMPLES["pipeline"]["document"])
        model = ScriptedChatModel()
        config = new_thread("invoice")
        state = await graph.ainvoke(
            PipelineInput(**SAMPLES["pipeline"]).model_dump(), config, context=AgentContext(model=model)
        )
        state["result"]
        """
    ),
    code("calls(model)"),
    md(
        """
        ## Inspect the checkpoints

        `aget_state` is the latest checkpoint of the thread: its values, and `next` (empty when the
        run is over). `aget_state_history` lists every checkpoint, newest first; each one records
        the tasks that ran from it and what they wrote. `step -1` is the input.
        """
    ),
    code(
        """
        snapshot = await graph.aget_state(config)
        print("next:", snapshot.next, "| keys:", list(snapshot.values), "| created:", snapshot.created_at)
        await show_history(graph, config)
        """
    ),
    md(
        """
        ## Pause before a node, then resume

        `interrupt_before=["transform"]` stops the run after validation: a natural place for a
        human to look at the record. The state says what will run next. Resuming is
        `ainvoke(None, config)`: `None` means *continue this thread*, whereas passing an input
        would start the thread over. Only the transformer is called on resume.
        """
    ),
    code(
        """
        model = ScriptedChatModel()
        config = new_thread("invoice-paused")
        await graph.ainvoke(
            PipelineInput(**SAMPLES["pipeline"]).model_dump(),
            config,
            context=AgentContext(model=model),
            interrupt_before=["transform"],
        )
        snapshot = await graph.aget_state(config)
        print("paused before:", snapshot.next)
        print("validation:", snapshot.values["validation"])
        print("calls so far:", calls(model))
        """
    ),
    code(
        """
        state = await graph.ainvoke(None, config, context=AgentContext(model=model))
        print(state["result"]["status"], "| calls after resume:", calls(model))
        """
    ),
    md(
        """
        ## Crash on a failing agent, then resume

        Now the transformer is down: `FaultPolicy(down_agents=...)` makes the scripted model fail
        every call of that agent with a 503. The node's `RetryPolicy` (`DEFAULT_RETRY`: exponential
        backoff with jitter, transient errors only) tries six times, then the run fails. The
        extract and validate checkpoints are already on disk. Resuming the thread with a healthy
        model runs only `transform`: the model never sees the extractor or validator again.
        """
    ),
    code(
        """
        broken = ScriptedChatModel(brain=ScriptedBrain(faults=FaultPolicy(down_agents=frozenset({"transformer"}))))
        config = new_thread("invoice-crash")
        try:
            await graph.ainvoke(
                PipelineInput(**SAMPLES["pipeline"]).model_dump(), config, context=AgentContext(model=broken)
            )
        except Exception as exc:
            print("run failed:", type(exc).__name__, exc)
        print("calls:", calls(broken))
        snapshot = await graph.aget_state(config)
        print("the thread is waiting on:", snapshot.next, "| saved so far:", list(snapshot.values))
        """
    ),
    code(
        """
        healthy = ScriptedChatModel()
        state = await graph.ainvoke(None, config, context=AgentContext(model=healthy))
        print(state["result"]["status"], "| calls on resume:", calls(healthy))
        await show_history(graph, config)
        """
    ),
    md(
        """
        ## Change the input: the validation gate

        An invoice without a customer, a date or line items fails validation. The gate routes it
        to `reject`, which returns the validator's reasons; `transform` never runs.
        """
    ),
    code(
        """
        incomplete = PipelineInput(document="Invoice: INV-7\\nTotal: 30.00 EUR\\n")
        config = new_thread("invoice-incomplete")
        state = await graph.ainvoke(incomplete.model_dump(), config, context=AgentContext(model=ScriptedChatModel()))
        print(state["result"])
        await show_history(graph, config)
        """
    ),
    ARUN_MD,
    arun_cell("pipeline", 'result.output["record"]'),
    *CLOSE,
]


# -- scatter-gather --------------------------------------------------------------

SCATTER_GATHER = [
    md(
        """
        # Scatter-gather: one question, N sources in parallel, one merged answer

        **What it is for.** Research over independent sources. The question is fanned out with
        `Send` to one *researcher* agent per source; the branches run in parallel, each with its
        own retries. An *aggregator* merges and de-duplicates the findings and keeps, for each
        one, which sources support it (provenance).

        Sources fail. A source that still fails after its retries is recorded by the node's
        **error handler** instead of failing the whole flow, and the flow succeeds while at least
        `quorum` sources answered (default: a majority). Below the quorum it stops with
        `QuorumNotMet`, naming every failed source.

        This notebook draws the graph, runs it with checkpoints, inspects the parallel step,
        pauses before the merge, and takes sources down with `FaultPolicy(down_agents=...)` to
        see the quorum at work.
        """
    ),
    SETUP_HELPERS,
    code(
        """
        from patterns import AgentContext, FaultPolicy, ScriptedBrain, ScriptedChatModel, arun, open_checkpointer
        from patterns.presets import research_scatter_gather
        from patterns.samples import SAMPLES
        from patterns.scatter_gather import QuorumNotMet, ScatterGatherInput
        """
    ),
    md(
        """
        ## The graph

        `START` fans out (dotted: the edge returns a list of `Send`s, one per source) to
        `research`, and every branch flows into `aggregate`. The `__error_handler__research` node
        is the handler LangGraph runs for a branch that exhausted its retries: it records the
        failure and jumps to `aggregate` with `Command(goto=...)`, so it has no drawn edges.
        """
    ),
    checkpoint_cell("research_scatter_gather", "scatter_gather"),
    md("## Run it on the scripted model"),
    code(
        """
        question = ScatterGatherInput(**SAMPLES["scatter_gather"])
        print(question.question, "| sources:", [s.name for s in question.sources], "| quorum:", question.quorum)

        model = ScriptedChatModel()
        config = new_thread("research")
        state = await graph.ainvoke(question.model_dump(), config, context=AgentContext(model=model))
        result = state["result"]
        print(result["summary"])
        for finding in result["findings"]:
            print(f"  {finding['score']:.2f}  {finding['text']}  <- {', '.join(finding['sources'])}")
        """
    ),
    md(
        """
        ## Inspect the checkpoints

        The five researchers ran in **one step** (step 0): one superstep, five parallel tasks, one
        checkpoint after all of them. Their results meet in the `results` list through its reducer
        (`operator.add`), which is how parallel branches write to the same key safely.
        """
    ),
    code("await show_history(graph, config)"),
    md(
        """
        ## Pause before the merge, then resume

        With `interrupt_before=["aggregate"]` the run stops once every source has answered: the
        per-source findings are in the checkpoint, ready to be looked at (or edited with
        `aupdate_state`) before the aggregator merges them.
        """
    ),
    code(
        """
        model = ScriptedChatModel()
        config = new_thread("research-paused")
        await graph.ainvoke(
            question.model_dump(), config, context=AgentContext(model=model), interrupt_before=["aggregate"]
        )
        snapshot = await graph.aget_state(config)
        print("paused before:", snapshot.next)
        for entry in sorted(snapshot.values["results"], key=lambda r: r["source"]):
            print(f"  {entry['source']:<13} {len(entry['findings'])} findings")
        state = await graph.ainvoke(None, config, context=AgentContext(model=model))
        print("resumed:", state["result"]["summary"], "| calls:", calls(model))
        """
    ),
    md(
        """
        ## Change a parameter: the quorum, with sources down

        `FaultPolicy(down_agents=...)` makes the scripted model fail every call of the named
        agents (each source is its own agent). Each down source is retried by the node's
        `RetryPolicy`, then recorded as a failure. Three scenarios with the sample's quorum of 3,
        and one where we lower the quorum to 2.
        """
    ),
    code(
        """
        async def research(down, quorum=3):
            model = ScriptedChatModel(brain=ScriptedBrain(faults=FaultPolicy(down_agents=frozenset(down))))
            task = ScatterGatherInput(**{**SAMPLES["scatter_gather"], "quorum": quorum})
            config = new_thread("research-degraded")
            try:
                state = await graph.ainvoke(task.model_dump(), config, context=AgentContext(model=model))
            except QuorumNotMet as exc:
                print(f"down={sorted(down)} quorum={quorum}: QuorumNotMet: {exc}")
                return model, config
            result = state["result"]
            print(
                f"down={sorted(down)} quorum={quorum}: ok={result['sources_ok']} "
                f"failed={[f['source'] for f in result['sources_failed']]} -> {result['summary']}"
            )
            return model, config


        _ = await research(set())
        degraded_model, _ = await research({"news", "forum"})
        _, failed_config = await research({"news", "forum", "patents"})
        _ = await research({"news", "forum", "patents"}, quorum=2)
        """
    ),
    md(
        """
        Below the quorum the run fails, but its checkpoint keeps everything: the answers of the
        sources that did respond, and why each of the others failed.
        """
    ),
    code(
        """
        snapshot = await graph.aget_state(failed_config)
        print("answered:", sorted(r["source"] for r in snapshot.values["results"]))
        for failure in sorted(snapshot.values["failures"], key=lambda f: f["source"]):
            print("failed:  ", failure["source"], "-", failure["error"])
        """
    ),
    md(
        """
        ### Where the calls went

        With two sources down, each down source used all six attempts of the retry policy; the
        healthy ones answered at the first call.
        """
    ),
    code(
        """
        usage = degraded_model.brain.ledger.snapshot()
        agents = sorted(usage)
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.bar(agents, [usage[a].calls for a in agents], label="answered")
        ax.bar(
            agents,
            [usage[a].failures for a in agents],
            bottom=[usage[a].calls for a in agents],
            label="failed attempts",
        )
        ax.set_ylabel("model calls")
        ax.set_title("Scatter-gather with news and forum down")
        ax.legend()
        show_figure(fig)
        """
    ),
    ARUN_MD,
    arun_cell("scatter_gather", 'result.output["sources_ok"]'),
    *CLOSE,
]


# -- map-reduce ------------------------------------------------------------------

MAP_REDUCE = [
    md(
        """
        # Map-reduce: one mapper over 1,000 reviews, then an associative reduce

        **What it is for.** The same work over many items, here scoring the sentiment of 1,000
        product reviews. Items are cut into **batches** (one model call per batch, not per item);
        each batch is a `Send` to the *mapper* agent, and LangGraph's `max_concurrency` bounds how
        many batches are in flight. Each branch folds its batch into a partial aggregate; the
        *reducer* agent combines the partials. The combine is associative and commutative, so the
        batch size and the order in which batches finish cannot change the answer.

        This notebook runs it with checkpoints, plots the histogram, crashes a run half-way with
        injected faults and resumes it (only the unfinished batches are redone), and varies batch
        size and concurrency under simulated latency.
        """
    ),
    SETUP_HELPERS,
    code(
        """
        import time

        from patterns import (
            AgentContext,
            FaultPolicy,
            LatencyPolicy,
            ScriptedBrain,
            ScriptedChatModel,
            arun,
            open_checkpointer,
        )
        from patterns.map_reduce import MapReduceInput
        from patterns.presets import review_map_reduce
        from patterns.samples import SAMPLES
        """
    ),
    md(
        """
        ## The graph

        `START` fans out (dotted) to as many `map_batch` tasks as there are batches; all of them
        flow into `reduce`.
        """
    ),
    checkpoint_cell("review_map_reduce", "map_reduce"),
    md(
        """
        ## Run it on the scripted model

        The sample is 1,000 generated reviews, batches of 25, at most 8 batches at once. The
        concurrency bound is a *run* setting: it goes in the config (`max_concurrency`).
        """
    ),
    code(
        """
        reviews = MapReduceInput(**SAMPLES["map_reduce"])
        print(len(reviews.items), "reviews, e.g.", [i.text for i in reviews.items[:3]])

        model = ScriptedChatModel()
        config = new_thread("reviews", max_concurrency=reviews.max_concurrency)
        state = await graph.ainvoke(reviews.model_dump(), config, context=AgentContext(model=model))
        result = state["result"]
        print({k: v for k, v in result.items() if k != "histogram"})
        print("calls:", calls(model))
        """
    ),
    code(
        """
        labels = ["very_negative", "negative", "neutral", "positive", "very_positive"]
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.bar(labels, [result["histogram"].get(label, 0) for label in labels], color="tab:blue")
        ax.set_ylabel("reviews")
        ax.set_title(f"Sentiment of {result['count']} reviews (mean {result['mean_sentiment']:+.3f})")
        show_figure(fig)
        """
    ),
    md(
        """
        ## Inspect the checkpoints

        All 40 batches ran in one superstep (step 0); each wrote one partial aggregate to
        `partials` (a list with an `operator.add` reducer). The reducer ran in step 1.
        """
    ),
    code(
        """
        await show_history(graph, config)
        snapshot = await graph.aget_state(config)
        print("first partial:", brief(snapshot.values["partials"][0], 200))
        """
    ),
    md(
        """
        ## Crash half-way, then resume

        Here the graph is built **without** node retries and the model fails 10% of calls with
        transient faults, so the first failing batch stops the run. LangGraph has already saved
        the output of every batch that finished in that step (as *pending writes* of the
        checkpoint). Resuming the thread with a healthy model runs only the batches that did not
        finish, and the answer is the same as the clean run's.
        """
    ),
    code(
        """
        import warnings

        # When one batch fails, LangGraph cancels the batches still queued behind the concurrency bound;
        # Python then warns that their coroutines never started. Harmless: they run on resume.
        warnings.filterwarnings("ignore", message="coroutine 'arun_with_retry' was never awaited")

        fragile_graph = review_map_reduce(checkpointer=saver, retry_policy=None)
        flaky = ScriptedChatModel(brain=ScriptedBrain(faults=FaultPolicy.transient(0.1)))
        config = new_thread("reviews-crash", max_concurrency=8)
        try:
            await fragile_graph.ainvoke(reviews.model_dump(), config, context=AgentContext(model=flaky))
        except Exception as exc:
            print("run failed:", type(exc).__name__, exc)

        snapshot = await fragile_graph.aget_state(config)
        finished = sum(task.result is not None for task in snapshot.tasks)
        print(
            f"{finished} of {len(snapshot.tasks)} batches are saved; the thread waits on {len(snapshot.next)} tasks"
        )
        """
    ),
    code(
        """
        healthy = ScriptedChatModel()
        state = await fragile_graph.ainvoke(None, config, context=AgentContext(model=healthy))
        print("calls on resume:", calls(healthy))
        print("same answer as the clean run:", state["result"] == result)
        """
    ),
    md(
        """
        ## Change a parameter: batch size and concurrency

        With 20 ms of simulated latency per model call, fewer, larger batches and more concurrency
        both cut the wall time, and the answer never changes. (Timings on a shared machine are
        noisy; the benchmarks take medians over repeated runs.)
        """
    ),
    code(
        """
        rows = []
        for batch_size, concurrency in [(25, 1), (25, 8), (100, 8), (10, 50)]:
            model = ScriptedChatModel(brain=ScriptedBrain(latency=LatencyPolicy(mean=0.02)))
            task = MapReduceInput(
                **{**SAMPLES["map_reduce"], "batch_size": batch_size, "max_concurrency": concurrency}
            )
            config = new_thread("reviews-sweep", max_concurrency=concurrency)
            started = time.perf_counter()
            state = await graph.ainvoke(task.model_dump(), config, context=AgentContext(model=model))
            rows.append(
                (
                    batch_size,
                    concurrency,
                    state["result"]["batches"],
                    model.brain.ledger.total().calls,
                    time.perf_counter() - started,
                    state["result"]["mean_sentiment"],
                )
            )

        print(f"{'batch':>5} {'conc':>4} {'batches':>7} {'calls':>5} {'wall s':>7} {'mean':>7}")
        for row in rows:
            print(f"{row[0]:>5} {row[1]:>4} {row[2]:>7} {row[3]:>5} {row[4]:>7.3f} {row[5]:>+7.4f}")
        assert len({row[5] for row in rows}) == 1, "the reduce is associative: one answer"
        """
    ),
    code(
        """
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.bar([f"batch {r[0]}\\nconc {r[1]}" for r in rows], [r[4] for r in rows], color="tab:orange")
        ax.set_ylabel("wall time (s)")
        ax.set_title("1,000 reviews, 20 ms per model call")
        show_figure(fig)
        """
    ),
    ARUN_MD,
    arun_cell("map_reduce", 'result.output["histogram"]'),
    *CLOSE,
]


# -- refinement ------------------------------------------------------------------

REFINEMENT = [
    md(
        """
        # Refinement loop: generator → critic → refine

        **What it is for.** Work that improves with feedback: a product description, a code fix.
        A *generator* agent writes a draft, a *critic* agent scores it against a rubric (here:
        which required points are covered, and the word limit), and the generator rewrites with
        that feedback. After every critique the loop checks three exits, in this order:

        - `threshold`: the score is good enough;
        - `converged`: the score moved less than `epsilon` since the last round;
        - `max_iterations`: out of turns.

        The **best** draft wins, not the last one. The loop is bounded twice: by `max_iterations`,
        and by a recursion limit derived from it (`recursion_limit(max_iterations)`), never left to
        LangGraph's default.
        """
    ),
    SETUP_HELPERS,
    code(
        """
        from patterns import AgentContext, ScriptedChatModel, arun, open_checkpointer
        from patterns.presets import product_refinement
        from patterns.refinement import RefinementInput, recursion_limit
        from patterns.samples import SAMPLES
        """
    ),
    md(
        """
        ## The graph

        `critique` loops back to `generate` or leaves to `finish` (dotted: a conditional edge).
        """
    ),
    checkpoint_cell("product_refinement", "refinement"),
    md("## Run it on the scripted model"),
    code(
        """
        task = RefinementInput(**SAMPLES["refinement"])
        print(task.topic, "| must mention:", task.required_points)
        print(f"threshold={task.threshold} epsilon={task.epsilon} max_iterations={task.max_iterations}")

        model = ScriptedChatModel()
        config = new_thread("copy", recursion_limit=recursion_limit(task.max_iterations))
        state = await graph.ainvoke({"task": task.model_dump()}, config, context=AgentContext(model=model))
        result = state["result"]
        print("scores:", result["scores"], "| stop:", result["stop_reason"], "| best:", result["best_score"])
        print(result["best_draft"])
        """
    ),
    md(
        """
        ## Inspect the checkpoints

        One checkpoint per node: `generate` writes the draft (and appends it to `drafts`),
        `critique` writes the critique and appends one entry to `history`.
        """
    ),
    code("await show_history(graph, config)"),
    md(
        """
        ## Step through the loop: interrupt after every critique, then resume

        `interrupt_after=["critique"]` pauses the run after each critique, a place where a person
        could read the draft and stop or continue. Each `ainvoke(None, config)` resumes from the
        checkpoint and runs one more round.
        """
    ),
    code(
        """
        config = new_thread("copy-stepped", recursion_limit=recursion_limit(task.max_iterations))
        await graph.ainvoke(
            {"task": task.model_dump()}, config, context=AgentContext(model=model), interrupt_after=["critique"]
        )
        snapshot = await graph.aget_state(config)
        while snapshot.next:
            last = snapshot.values["history"][-1]
            print(f"paused after critique {last['iteration']}: score {last['score']}, missing {last['missing']}")
            await graph.ainvoke(None, config, context=AgentContext(model=model), interrupt_after=["critique"])
            snapshot = await graph.aget_state(config)
        print("finished:", snapshot.values["result"]["stop_reason"], snapshot.values["result"]["scores"])
        """
    ),
    md(
        """
        ## Change a parameter: threshold, max_iterations, epsilon, max_words

        Each exit in turn: a lower threshold stops earlier; fewer iterations cut the loop short
        (the best draft so far is returned); a word limit the generator cannot meet stalls the
        score, and the loop stops as converged.
        """
    ),
    code(
        """
        variants = {
            "sample (threshold 0.95)": {},
            "threshold 0.6": {"threshold": 0.6},
            "max_iterations 2": {"max_iterations": 2},
            "max_words 20": {"max_words": 20},
        }
        runs = {}
        for label, change in variants.items():
            variant = RefinementInput(**{**SAMPLES["refinement"], **change})
            config = new_thread("copy-variant", recursion_limit=recursion_limit(variant.max_iterations))
            state = await graph.ainvoke(
                {"task": variant.model_dump()}, config, context=AgentContext(model=ScriptedChatModel())
            )
            runs[label] = state["result"]
            print(f"{label:<24} scores={state['result']['scores']} stop={state['result']['stop_reason']}")
        """
    ),
    code(
        """
        fig, ax = plt.subplots(figsize=(7, 3.5))
        styles = [("o", 11, "-"), ("s", 8, "--"), ("^", 6, "-."), ("D", 4, ":")]  # overlapping runs stay visible
        for (label, run), (marker, size, line) in zip(runs.items(), styles, strict=True):
            iterations, legend = range(1, len(run["scores"]) + 1), f"{label}: {run['stop_reason']}"
            ax.plot(iterations, run["scores"], marker=marker, markersize=size, linestyle=line, label=legend)
        ax.axhline(task.threshold, color="grey", linestyle=":", label=f"threshold {task.threshold}")
        ax.set_xlabel("iteration")
        ax.set_ylabel("critic score")
        ax.set_xticks(range(1, task.max_iterations + 1))
        ax.set_title("Critic score per iteration")
        ax.legend(fontsize=8)
        show_figure(fig)
        """
    ),
    md(
        """
        ### The recursion limit is the hard bound

        `recursion_limit(max_iterations)` is two supersteps per iteration plus headroom. Set it too
        low and LangGraph stops the loop with `GraphRecursionError` instead of letting it run on.
        """
    ),
    code(
        """
        from langgraph.errors import GraphRecursionError

        try:
            await graph.ainvoke(
                {"task": task.model_dump()},
                new_thread("copy-bounded", recursion_limit=3),
                context=AgentContext(model=ScriptedChatModel()),
            )
        except GraphRecursionError as exc:
            print("stopped:", str(exc).splitlines()[0])
        """
    ),
    ARUN_MD,
    arun_cell("refinement", 'result.output["scores"]'),
    *CLOSE,
]


# -- debate ----------------------------------------------------------------------

DEBATE = [
    md(
        """
        # Debate: N debaters, R rounds, a vote, arbitration on no consensus

        **What it is for.** Decisions that benefit from independent views and cross-examination.
        In round 1 each *debater* sees only its share of the evidence; in later rounds it also
        sees its peers' previous positions and may change its mind. The debaters of a round run
        in parallel (`Send`). Their final positions go to a vote:

        - `majority`: more than half of the ballots;
        - `weighted`: expertise `weights` times confidence, above `threshold` of the total;
        - `quorum`: at least `quorum` debaters agree.

        With no consensus, `arbitration` decides: `judge` (an agent weighing all the evidence),
        `plurality` (the leader wins), or `human`, which pauses the run with LangGraph's
        `interrupt` until someone resumes it with `Command(resume=choice)`.
        """
    ),
    SETUP_HELPERS,
    code(
        """
        from langgraph.types import Command

        from patterns import AgentContext, ScriptedChatModel, arun, open_checkpointer
        from patterns.debate import DebateInput, recursion_limit
        from patterns.presets import council_debate
        from patterns.samples import SAMPLES
        """
    ),
    md(
        """
        ## The graph

        `argue` (one task per debater) → `close_round` loops back to `argue` until the last
        round, then `vote` goes to `finish` on consensus, or to `judge` / `ask_human` first.
        """
    ),
    checkpoint_cell("council_debate", "debate"),
    md("## Run it on the scripted model"),
    code(
        """
        def debate_input(**change):
            return DebateInput(**{**SAMPLES["debate"], **change})


        async def run_debate(task, name="debate", **kwargs):
            config = new_thread(name, recursion_limit=recursion_limit(task.rounds))
            state = await graph.ainvoke(
                {"task": task.model_dump(mode="json")},
                config,
                context=AgentContext(model=ScriptedChatModel()),
                **kwargs,
            )
            return state, config


        task = debate_input()
        print(task.question, task.options, f"| {task.debaters} debaters, {task.rounds} rounds, {task.voting} vote")
        state, config = await run_debate(task)
        result = state["result"]
        print("decision:", result["decision"], "| decided by:", result["decided_by"], "| vote:", result["vote"])
        for turn in result["transcript"]:
            print(
                f"  round {turn['round']} {turn['debater']}: {turn['position']:<10} ({turn['confidence']:.2f}) "
                f"{turn['argument']}"
            )
        """
    ),
    md(
        """
        ## Inspect the checkpoints

        Each round is two steps: the parallel `argue` tasks, then `close_round`. Then `vote`, and
        `finish`.
        """
    ),
    code("await show_history(graph, config)"),
    md(
        """
        ## Pause before the vote, then resume

        `interrupt_before=["vote"]` stops after the last round, with every position in the
        checkpoint; `ainvoke(None, config)` continues to the vote.
        """
    ),
    code(
        """
        state, config = await run_debate(task, "debate-paused", interrupt_before=["vote"])
        snapshot = await graph.aget_state(config)
        print("paused before:", snapshot.next, "after round", snapshot.values["round"])
        state = await graph.ainvoke(None, config, context=AgentContext(model=ScriptedChatModel()))
        print("resumed:", state["result"]["decision"], "by", state["result"]["decided_by"])
        """
    ),
    md(
        """
        ## Change a parameter: the voting method

        Same debate, three ways to count. A unanimous `quorum` of 3 is not met by a 2-to-1 split,
        so arbitration (the judge, by default) decides.
        """
    ),
    code(
        """
        voting = {
            "majority": debate_input(voting="majority"),
            "weighted": debate_input(voting="weighted", threshold=0.7, weights={"debater_1": 2.0}),
            "quorum 3": debate_input(voting="quorum", quorum=3),
        }
        outcomes = {}
        for label, variant in voting.items():
            state, _ = await run_debate(variant)
            outcomes[label] = state["result"]
            vote = state["result"]["vote"]
            print(
                f"{label:<9} consensus={vote['consensus']!s:<5} distribution={vote['distribution']} "
                f"-> {state['result']['decision']} (by {state['result']['decided_by']})"
            )
        """
    ),
    code(
        """
        fig, axes = plt.subplots(1, len(outcomes), figsize=(9, 2.8), sharey=False)
        for ax, (label, outcome) in zip(axes, outcomes.items(), strict=True):
            distribution = outcome["vote"]["distribution"]
            ax.bar(task.options, [distribution.get(option, 0) for option in task.options])
            ax.set_title(f"{label}: {outcome['decision']}\\n(by {outcome['decided_by']})", fontsize=9)
            ax.tick_params(axis="x", labelsize=8)
        axes[0].set_ylabel("votes (weighted: expertise x confidence)", fontsize=8)
        fig.tight_layout()
        show_figure(fig)
        """
    ),
    md(
        """
        ## Change a parameter: arbitration

        Four debaters split 2-1-1, so no majority. `judge` lets the judge agent weigh the evidence,
        `plurality` takes the leader.
        """
    ),
    code(
        """
        for arbitration in ["judge", "plurality"]:
            state, _ = await run_debate(debate_input(debaters=4, rounds=1, arbitration=arbitration))
            result = state["result"]
            print(
                f"{arbitration:<9} vote={result['vote']['distribution']} -> {result['decision']} "
                f"(by {result['decided_by']}: {result['rationale']})"
            )
        """
    ),
    md(
        """
        ### Human arbitration: `interrupt` and `Command(resume=...)`

        With `arbitration="human"`, the `ask_human` node calls `interrupt(...)`: the run stops, the
        checkpoint is saved, and the question waits in `snapshot.interrupts`, in this process or in
        another one days later (the CLI: `orch run debate --resume --thread ID --answer CHOICE`).
        Resuming with `Command(resume=choice)` re-enters `ask_human`, where `interrupt` now returns
        the choice.
        """
    ),
    code(
        """
        state, config = await run_debate(debate_input(debaters=4, rounds=1, arbitration="human"), "debate-human")
        snapshot = await graph.aget_state(config)
        print("waiting in:", snapshot.next)
        question = snapshot.interrupts[0].value
        print(question["ask"], question["options"], "| vote:", question["vote"]["distribution"])
        """
    ),
    code(
        """
        choice = "mongodb"  # the human's answer: the arbitrator may overrule the plurality
        state = await graph.ainvoke(Command(resume=choice), config, context=AgentContext(model=ScriptedChatModel()))
        result = state["result"]
        print(result["decision"], "| decided by:", result["decided_by"], "|", result["rationale"])
        await show_history(graph, config)
        """
    ),
    ARUN_MD,
    arun_cell("debate", '{k: result.output[k] for k in ("decision", "confidence", "decided_by")}'),
    *CLOSE,
]


# -- routing ---------------------------------------------------------------------

ROUTING = [
    md(
        """
        # Conditional routing: classify, then send to the right specialist

        **What it is for.** Inputs that need different handling by kind. A *router* agent
        classifies a customer message; a **conditional edge** sends it to the billing, technical
        or general specialist. The route is an explicit decision recorded in the state and the
        output, so it can be tested, audited and, as shown below, reviewed and overridden before a
        specialist acts on it. A route the graph does not know falls back to the general desk.
        """
    ),
    SETUP_HELPERS,
    code(
        """
        from patterns import AgentContext, ScriptedChatModel, arun, open_checkpointer
        from patterns.presets import SUPPORT_ROUTES, support_routing
        from patterns.routing import Classification, RoutingInput, router_update
        from patterns.samples import SAMPLES
        """
    ),
    md("## The graph"),
    checkpoint_cell("support_routing", "routing"),
    md("## Run it on the scripted model"),
    code(
        """
        model = ScriptedChatModel()
        config = new_thread("ticket")
        state = await graph.ainvoke(
            RoutingInput(**SAMPLES["routing"]).model_dump(), config, context=AgentContext(model=model)
        )
        state["result"]
        """
    ),
    md("## Inspect the checkpoints"),
    code("await show_history(graph, config)"),
    md(
        """
        ## Review the route before a specialist acts: interrupt, override, resume

        Pause before any specialist. The checkpoint holds the route and `next` says which desk
        would run. `aupdate_state(..., as_node="classify")` writes a corrected route *as if the
        router had returned it*, so LangGraph re-evaluates the conditional edge; resuming then
        runs the desk we chose.
        """
    ),
    code(
        """
        config = new_thread("ticket-reviewed")
        await graph.ainvoke(
            RoutingInput(**SAMPLES["routing"]).model_dump(),
            config,
            context=AgentContext(model=model),
            interrupt_before=["billing", "technical", "general"],
        )
        snapshot = await graph.aget_state(config)
        print("router chose:", snapshot.values["route"], "| next:", snapshot.next)

        await graph.aupdate_state(config, {"route": "general"}, as_node="classify")
        snapshot = await graph.aget_state(config)
        print("after the override, next:", snapshot.next)

        state = await graph.ainvoke(None, config, context=AgentContext(model=model))
        print(state["result"])
        await show_history(graph, config)
        """
    ),
    md(
        """
        ## Change the input: different messages, different routes

        The router's reply goes through `router_update`, which maps any route the graph does not
        have to `general`: a real model that invents a `legal` desk cannot break the flow.
        """
    ),
    code(
        """
        messages = [
            "I was charged twice on my last invoice and would like a refund.",
            "The app crashes with an error when I upload a photo.",
            "Please update the billing address on my invoice.",
            "My password reset email never arrives and login fails.",
            "What are your opening hours?",
            "Can I get a refund for the annual plan?",
            "Thanks, the parcel arrived today.",
        ]
        routes = Counter()
        for message in messages:
            state = await graph.ainvoke(
                {"message": message}, new_thread("ticket-batch"), context=AgentContext(model=model)
            )
            routes[state["result"]["route"]] += 1
            print(f"{state['result']['route']:<10} ({state['result']['confidence']:.2f})  {message}")

        print("unknown route ->", router_update({}, Classification(route="legal", confidence=0.9), SUPPORT_ROUTES, "general"))
        """
    ),
    code(
        """
        fig, ax = plt.subplots(figsize=(6, 2.5))
        desks = ["billing", "technical", "general"]
        ax.barh(desks, [routes[d] for d in desks], color="tab:green")
        ax.set_xlabel("messages")
        ax.set_title("Where the router sent them")
        show_figure(fig)
        """
    ),
    ARUN_MD,
    arun_cell("routing"),
    *CLOSE,
]


# -- handoff ---------------------------------------------------------------------

HANDOFF = [
    md(
        """
        # Handoff: an agent transfers control, with the whole context

        **What it is for.** Conversations that move between desks. Each desk (triage, billing,
        technical, general) is a node that either answers or returns
        `Command(goto=desk, update=...)`: the transfer carries the conversation history and the
        reason, so the next desk starts with everything the last one knew. Unlike routing, there
        is no central router: control moves from agent to agent.

        Handoffs are bounded: past `max_handoffs`, or to a desk that does not exist, control goes
        to the general desk, which always answers. The recursion limit is derived from the bound.
        """
    ),
    SETUP_HELPERS,
    code(
        """
        from patterns import AgentContext, FaultPolicy, ScriptedBrain, ScriptedChatModel, arun, open_checkpointer
        from patterns.handoff import DeskReply, HandoffInput, desk_update, recursion_limit
        from patterns.presets import SUPPORT_DESKS, support_handoff
        from patterns.samples import SAMPLES
        """
    ),
    md(
        """
        ## The graph

        No edge between desks is drawn by `add_edge`: each desk node declares the desks it may
        hand off to (`destinations=`), which is what lets LangGraph draw the `Command` jumps as
        dotted edges.
        """
    ),
    checkpoint_cell("support_handoff", "handoff"),
    md("## Run it on the scripted model"),
    code(
        """
        conversation = HandoffInput(**SAMPLES["handoff"])
        model = ScriptedChatModel()
        config = new_thread("support", recursion_limit=recursion_limit(conversation.max_handoffs))
        state = await graph.ainvoke(conversation.model_dump(), config, context=AgentContext(model=model))
        result = state["result"]
        print("answered by:", result["handled_by"], "|", result["answer"])
        print("handoffs:", result["handoffs"])
        for turn in result["history"]:
            print(f"  {turn['agent']:<10} {turn['content']}")
        """
    ),
    md(
        """
        ## Inspect the checkpoints

        The triage desk wrote the transfer and a history note; the desk it handed to wrote the
        answer.
        """
    ),
    code("await show_history(graph, config)"),
    md(
        """
        ## Look at a transfer in flight

        `interrupt_after=["triage"]` stops right after the first handoff: the checkpoint already
        names the next desk and holds the context it will receive.
        """
    ),
    code(
        """
        config = new_thread("support-paused", recursion_limit=recursion_limit(conversation.max_handoffs))
        await graph.ainvoke(
            conversation.model_dump(), config, context=AgentContext(model=model), interrupt_after=["triage"]
        )
        snapshot = await graph.aget_state(config)
        print("next desk:", snapshot.next, "| transfer:", snapshot.values["handoffs"])
        state = await graph.ainvoke(None, config, context=AgentContext(model=model))
        print("resumed, answered by:", state["result"]["handled_by"])
        """
    ),
    md(
        """
        ## A desk goes down mid-conversation, then resume

        The technical desk is down (`FaultPolicy(down_agents=...)`); after its retries the run
        fails. Triage's handoff is in the checkpoint, so resuming with a healthy model asks only
        the technical desk: triage is not called again.
        """
    ),
    code(
        """
        broken = ScriptedChatModel(brain=ScriptedBrain(faults=FaultPolicy(down_agents=frozenset({"technical"}))))
        config = new_thread("support-crash", recursion_limit=recursion_limit(conversation.max_handoffs))
        try:
            await graph.ainvoke(conversation.model_dump(), config, context=AgentContext(model=broken))
        except Exception as exc:
            print("run failed:", type(exc).__name__, exc)
        print("calls:", calls(broken), "| waiting on:", (await graph.aget_state(config)).next)

        healthy = ScriptedChatModel()
        state = await graph.ainvoke(None, config, context=AgentContext(model=healthy))
        print("resumed:", state["result"]["handled_by"], "| calls on resume:", calls(healthy))
        """
    ),
    md(
        """
        ## Change the input and the bound

        Different messages end at different desks. The bound is enforced in `desk_update`, the
        pure function every desk (and every framework adapter) uses to turn a reply into the next
        move: once `max_handoffs` transfers have happened, or for a desk that does not exist, the
        next desk is `general`.
        """
    ),
    code(
        """
        for message in ["I want a refund for last month.", "My app crashes on start.", "Hello, who are you?"]:
            state = await graph.ainvoke(
                HandoffInput(message=message).model_dump(),
                new_thread("support-batch"),
                context=AgentContext(model=model),
            )
            path = " -> ".join(["triage"] + [h["to_agent"] for h in state["result"]["handoffs"]])
            print(f"{path:<22} {message}")

        reply = DeskReply(action="handoff", to="technical", reason="this is about the app")
        at_bound = {
            "message": "...",
            "max_handoffs": 1,
            "handoffs": [{"from_agent": "triage", "to_agent": "billing", "reason": "refund"}],
        }
        SUPPORT = (SUPPORT_DESKS, "triage", "general")  # the preset's desks, entry and fallback
        print("below the bound ->", desk_update("billing", {**at_bound, "max_handoffs": 3}, reply, *SUPPORT)[0])
        print("at the bound    ->", desk_update("billing", at_bound, reply, *SUPPORT)[0])
        print(
            "unknown desk    ->",
            desk_update("billing", at_bound | {"max_handoffs": 3}, reply.model_copy(update={"to": "legal"}), *SUPPORT)[0],
        )
        print("recursion limit for max_handoffs=1, 3, 10:", [recursion_limit(n) for n in (1, 3, 10)])
        """
    ),
    ARUN_MD,
    arun_cell("handoff", 'result.output["handoffs"]'),
    *CLOSE,
]


COMPARISON = [
    md(
        """
        # Four frameworks, one set of flows

        The seven canonical flows (pipeline, scatter-gather, map-reduce, refinement loop,
        debate, conditional routing, handoff) run natively on **LangGraph**, **AutoGen**,
        **CrewAI** and **Semantic Kernel** through one entry point, `adapters.arun`, and return
        the same `RunResult`. This notebook:

        1. runs every flow on every framework on the deterministic scripted model and checks
           that the outputs are the same;
        2. drives each framework through **its own OpenAI client** against the scripted model
           served on loopback, and reads the server's request log: what each framework really
           sends;
        3. runs a slice of the benchmark suite (orchestration overhead, parallel efficiency,
           resilience under faults) and plots it;
        4. shows the committed full benchmark, if it is in the checkout.

        Everything runs offline. CrewAI takes a few seconds to import and to warm up; the
        adapters import each framework only when a flow first runs on it.
        """
    ),
    code(
        """
        import json
        import tempfile
        from dataclasses import replace
        from pathlib import Path

        import matplotlib.pyplot as plt
        from IPython.display import Image, Markdown, display

        import adapters
        from patterns.model import ScriptedBrain
        from patterns.model.server import running_server
        from patterns.runner import PATTERNS

        plt.switch_backend("Agg")
        FRAMEWORKS = list(adapters.FRAMEWORKS)


        def table(headers, rows):
            lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
            lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
            display(Markdown("\\n".join(lines)))


        FRAMEWORKS
        """
    ),
    md(
        """
        ## 1. The same flows, the same answers

        Each cell of the table is one run: `=` when the output equals LangGraph's, then model
        calls and prompt/completion tokens. Tokens differ where a framework wraps our prompt in
        its own (CrewAI's agent framing) or answers a handoff with a function call: the
        equivalence tests assert each such difference exactly.
        """
    ),
    code(
        """
        results = {}
        for pattern in PATTERNS:
            for framework in FRAMEWORKS:
                results[pattern, framework] = await adapters.arun(framework, pattern, brain=ScriptedBrain())


        def cell(pattern, framework):
            r = results[pattern, framework]
            if r.status != "completed":
                return f"**{r.status}**: {r.error}"
            same = "=" if r.output == results[pattern, "langgraph"].output else "**differs**"
            return f"{same} {r.calls} calls, {r.prompt_tokens:,}/{r.completion_tokens:,} tok"


        table(["pattern", *FRAMEWORKS], [[p, *(cell(p, f) for f in FRAMEWORKS)] for p in PATTERNS])
        assert all(r.status == "completed" for r in results.values())
        assert all(results[p, f].output == results[p, "langgraph"].output for p, f in results)
        """
    ),
    md(
        """
        A `RunResult` also carries one step record per agent turn. Here is the debate on each
        framework with 20 ms of simulated model latency, as a timeline: the three debaters of a
        round run in parallel on LangGraph (`Send`), AutoGen (`GraphFlow`) and CrewAI (a Flow's
        parallel listeners), and one after another in Semantic Kernel's group chat, which has
        one speaker per turn. The outcome is the same.
        """
    ),
    code(
        """
        from patterns.model import LatencyPolicy

        timed = {}
        for framework in FRAMEWORKS:
            brain = ScriptedBrain(latency=LatencyPolicy(mean=0.02))
            timed[framework] = await adapters.arun(framework, "debate", brain=brain)
            assert timed[framework].output == results["debate", "langgraph"].output

        fig, axes = plt.subplots(1, len(FRAMEWORKS), figsize=(4 * len(FRAMEWORKS), 3), sharey=False)
        for ax, framework in zip(axes, FRAMEWORKS, strict=True):
            steps = timed[framework].steps
            for i, step in enumerate(steps):
                ax.barh(i, (step.end - step.start) * 1000, left=step.start * 1000)
            ax.set_yticks(range(len(steps)), [s.agent for s in steps], fontsize=7)
            ax.invert_yaxis()
            ax.set_title(framework)
            ax.set_xlabel("ms since start")
        fig.tight_layout()
        buffer = Path(tempfile.mkdtemp()) / "timeline.png"
        fig.savefig(buffer, dpi=80)
        display(Image(filename=buffer))
        """
    ),
    md(
        """
        ## 2. What each framework really sends

        `running_server(brain, request_log=...)` serves the scripted model as an
        OpenAI-compatible API on loopback (the same as `orch serve-model --log`). With
        `base_url`, every adapter drives its framework's own OpenAI client against it, and the
        server appends one JSON line per request.
        """
    ),
    code(
        """
        log = Path(tempfile.mkdtemp()) / "requests.jsonl"
        wire = {}
        brain = ScriptedBrain()
        with running_server(brain, request_log=log) as url:
            for framework in FRAMEWORKS:
                for pattern in ("pipeline", "debate", "handoff"):
                    before = len(log.read_text().splitlines()) if log.exists() else 0
                    result = await adapters.arun(framework, pattern, brain=brain, base_url=url)
                    assert result.output == results[pattern, "langgraph"].output, (framework, pattern)
                    wire[framework, pattern] = [json.loads(line) for line in log.read_text().splitlines()[before:]]

        rows = []
        for (framework, pattern), requests in wire.items():
            messages = sum(r["messages"] or 0 for r in requests) / len(requests)
            rows.append([
                framework,
                pattern,
                len(requests),
                sum(r["prompt_tokens"] for r in requests),
                sum(r["completion_tokens"] for r in requests),
                f"{messages:.1f}",
                sum(1 for r in requests if r["tools"]),
                sum(1 for r in requests if r["stream"]),
            ])
        table(["framework", "pattern", "requests", "prompt tok", "completion tok", "messages/request", "with tools", "streamed"], rows)
        """
    ),
    md(
        """
        ## 3. A slice of the benchmark

        The suite (`orch bench`) runs every candidate interleaved round by round after warm-up
        and reports medians as ratios against a plain-asyncio implementation of the same flows
        (the floor) measured in the same run. Here a short version of the quick profile runs
        three measures on three patterns and writes its report and charts to a temporary folder.
        """
    ),
    code(
        """
        import logging

        from benchmarks.harness import run_bench
        from benchmarks.profiles import PROFILES

        # Each framework logs every failed agent call at ERROR, and the resilience measure injects
        # many on purpose: their outcomes are in the results, so keep the logs out of the notebook.
        for name in ("autogen_core", "crewai", "semantic_kernel", "in_process_runtime", "agent_runtime"):
            logging.getLogger(name).setLevel(logging.CRITICAL)

        profile = replace(PROFILES["quick"], name="notebook", repeats=5, min_repeats=3, budget_s=1.0,
                          scatter_sources=20, map_items=100, parallel_repeats=2, fault_runs=4,
                          deadline_s=None)
        out = Path(tempfile.mkdtemp())
        path = await run_bench(profile, patterns=["pipeline", "scatter_gather", "debate"],
                               frameworks=FRAMEWORKS, measures=["overhead", "parallel", "resilience"],
                               results_dir=out)
        doc = json.loads(path.read_text())
        print("report:", path.parent / "report.md")
        """
    ),
    code(
        """
        overhead = [r for r in doc["measures"]["overhead"]["rows"] if r["status"] == "ok"]
        table(
            ["pattern", "candidate", "median ms", "per step µs", "ratio to floor"],
            [[r["pattern"], r["candidate"], f"{r['median_ms']:.2f}", f"{r['per_step_median_us']:.0f}",
              f"{r['ratio_to_floor']:.2f}"] for r in overhead],
        )
        display(Image(filename=path.parent / "overhead.png"))
        """
    ),
    code(
        """
        for measure in ("parallel", "resilience"):
            display(Markdown(f"**{measure}**"))
            display(Image(filename=path.parent / f"{measure}.png"))
        """
    ),
    md(
        """
        ## 4. The committed full run

        `orch bench` (the full profile, under 30 minutes on 2 cores) writes
        `benchmarks/results/latest.json` and `report.md`; the README quotes its summary. If the
        checkout has it, here are its overhead and wire-cost charts.
        """
    ),
    code(
        """
        committed = Path(adapters.__file__).resolve().parents[1] / "benchmarks" / "results"
        if (committed / "latest.json").exists():
            env = json.loads((committed / "latest.json").read_text())["environment"]
            print(f"full run of {env['date']} on {env['cpu_model']}, {env['cpu_count']} CPUs")
            for chart in ("overhead", "parallel", "wire"):
                display(Image(filename=committed / f"{chart}.png"))
        else:
            print("no committed full run in this checkout: run `orch bench`")
        """
    ),
]


NOTEBOOKS: dict[str, list[Cell]] = {
    "pipeline": PIPELINE,
    "scatter_gather": SCATTER_GATHER,
    "map_reduce": MAP_REDUCE,
    "refinement": REFINEMENT,
    "debate": DEBATE,
    "routing": ROUTING,
    "handoff": HANDOFF,
    "comparison": COMPARISON,
}


def build(name: str) -> nbformat.NotebookNode:
    """The notebook `name`, outputs empty, cell ids derived from its name and position."""
    notebook = new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
            "language_info": {"name": "python"},
        }
    )
    for index, (kind, source) in enumerate(NOTEBOOKS[name]):
        cell = new_markdown_cell(source) if kind == "md" else new_code_cell(source)
        cell["id"] = f"{name.replace('_', '-')}-{index:02d}"
        notebook.cells.append(cell)
    nbformat.validate(notebook)
    return notebook


def render(name: str) -> str:
    return nbformat.writes(build(name)) + "\n"


def main() -> int:
    for name in NOTEBOOKS:
        path = HERE / f"{name}.ipynb"
        text = render(name)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
