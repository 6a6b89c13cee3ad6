/**
 * The budget every template render runs within (SPEC §7.1). Rendering is synchronous, so a job
 * timeout or a Promise.race cannot stop it: the budget is checked from inside the render, at
 * every block body, partial and `{{value}}` the template runs (see handlebars.ts), and a render
 * past it throws RenderBudgetExceeded.
 */
export const RENDER_LIMITS = {
  /** CPU time (see outOfTime). */
  milliseconds: 100,
  /** Block bodies (`each` iterations, `if`/`with` branches) and partials run. */
  iterations: 100_000,
  /** Characters of output, every field of the template together. */
  outputChars: 1024 * 1024,
  /** Partials inside partials: a partial that includes itself would otherwise overflow the stack. */
  partialDepth: 64,
  /**
   * `{{…}}` in one field. Compiling runs on the same thread too, and takes a few hundred
   * microseconds per expression: this keeps a hostile 100 KB template from costing seconds.
   */
  expressionsPerField: 1_000,
} as const;

/** A render went past its budget; `reason` says which limit. */
export class RenderBudgetExceeded extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

type Budget = {
  /** Process CPU time (ms) when the render started. */
  cpuAtStart: number;
  /** Wall-clock time before which the render cannot have used its CPU time: no need to ask until then. */
  nextTimeCheck: number;
  iterations: number;
  output: number;
  partialDepth: number;
  /** Per unit of work in progress: the output its nested units already counted. */
  nested: number[];
};

// Renders are synchronous and never nest, so the one in progress can be held here: nothing else
// runs on this thread until it returns or throws.
let active: Budget | null = null;

/**
 * Runs `render` within a budget: a fresh one, or the one in progress when called inside another
 * render (each field of a template runs inside the template's render, sharing its budget).
 */
export function withRenderBudget<T>(render: () => T): T {
  if (active) return render();
  const now = performance.now();
  active = { cpuAtStart: cpuAtStart(now), nextTimeCheck: now + RENDER_LIMITS.milliseconds, iterations: 0, output: 0, partialDepth: 0, nested: [0] };
  try {
    return render();
  } catch (err) {
    // What a runaway render hits when it outruns the checks: a string over V8's maximum length, or the stack.
    if (err instanceof RangeError) throw new RenderBudgetExceeded(`too large or too deeply nested to render (${err.message})`);
    throw err;
  } finally {
    active = null;
  }
}

const cpuMilliseconds = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** How long a reading of the CPU time serves renders that start after it. */
const CPU_READING_REUSE_MS = 2;
let lastCpuReading = { cpu: 0, at: Number.NEGATIVE_INFINITY };

/**
 * The CPU time a render starts counting from: a reading at most CPU_READING_REUSE_MS old.
 * Reading it is a system call (~2 µs here), longer than a typical render of a short template;
 * the router renders thousands a second. A reading taken before the render started counts
 * the process's CPU time in between against the render: the budget gets stricter by at most
 * that (milliseconds), never looser, and a process waiting for a core uses none.
 */
function cpuAtStart(now: number): number {
  if (now - lastCpuReading.at > CPU_READING_REUSE_MS) lastCpuReading = { cpu: cpuMilliseconds(), at: now };
  return lastCpuReading.cpu;
}

/**
 * Whether the render has used its time. Time is CPU time, not wall-clock time: on a busy machine
 * a render waits for a core through no fault of its template, and a delivery must not fail for
 * good because of that. Wall-clock time passes at least as fast as one thread's CPU time, so the
 * clock is cheap to read at every check and the CPU time (a system call) is read only once the
 * clock says the budget may be spent.
 */
function outOfTime(budget: Budget): boolean {
  if (performance.now() < budget.nextTimeCheck) return false;
  const used = cpuMilliseconds() - budget.cpuAtStart;
  if (used > RENDER_LIMITS.milliseconds) return true;
  budget.nextTimeCheck = performance.now() + (RENDER_LIMITS.milliseconds - used);
  return false;
}

function exceeded(budget: Budget): string | null {
  if (budget.iterations > RENDER_LIMITS.iterations) return `runs more than ${RENDER_LIMITS.iterations} loop iterations or partials`;
  if (budget.output > RENDER_LIMITS.outputChars) return `renders more than ${RENDER_LIMITS.outputChars} characters`;
  if (outOfTime(budget)) return `takes longer than ${RENDER_LIMITS.milliseconds} ms`;
  return null;
}

function check(budget: Budget): void {
  const reason = exceeded(budget);
  if (reason) throw new RenderBudgetExceeded(reason);
}

function activeBudget(): Budget {
  // A render outside withRenderBudget would run unbounded: fail loudly instead.
  if (!active) throw new Error('a template was rendered outside withRenderBudget');
  return active;
}

/**
 * One unit of a render that produces text for the unit around it: a block body, a partial, or
 * one `{{value}}`. Output is counted once: what a unit returns, less what its nested units
 * already counted.
 */
export function budgetedUnit(kind: 'iteration' | 'value', produce: () => string): string {
  const budget = activeBudget();
  if (kind === 'iteration') budget.iterations++;
  check(budget);
  budget.nested.push(0);
  let output: string;
  try {
    output = produce();
  } catch (err) {
    budget.nested.pop();
    throw err;
  }
  budget.output += Math.max(0, output.length - budget.nested.pop()!);
  budget.nested[budget.nested.length - 1]! += output.length;
  check(budget);
  return output;
}

/** A partial: an iteration, one level deeper. */
export function budgetedPartial(produce: () => string): string {
  const budget = activeBudget();
  if (budget.partialDepth >= RENDER_LIMITS.partialDepth) throw new RenderBudgetExceeded(`nests partials more than ${RENDER_LIMITS.partialDepth} deep`);
  budget.partialDepth++;
  try {
    return budgetedUnit('iteration', produce);
  } finally {
    budget.partialDepth--;
  }
}
