// The Config page's model: the config as loaded, the pending Changes (the API's shape), and the working copy
// they produce. Every edit is a Change; the working copy is always `loaded` with the changes applied in order,
// so removing one change is a replay. Paths are against the working copy at the time of the edit, which is how
// the service applies them (in order).

/** The sections the page edits, from GET /api/ui/config (providers keep api_key as its state, never a value). */
export function docFromView(view) {
  return structuredClone({
    Providers: view.providers ?? [],
    Router: view.Router ?? null,
    fallback: view.fallback ?? null,
    Prices: view.Prices ?? null,
    Budgets: view.Budgets ?? null,
    StatusLine: view.StatusLine ?? null,
  });
}

/** What the page shows for a provider's key once `value` is written (the value itself is never kept here). */
export function keyStateOf(value) {
  if (value === undefined || value === null || value === "") return { kind: "none", variable: null };
  const variable = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/.exec(value);
  if (variable) return { kind: "variable", variable: variable[1], pending: true };
  return { kind: "written", variable: null, pending: true };
}

function isKeyPath(path) {
  return path.length === 3 && path[0] === "Providers" && path[2] === "api_key";
}

/** The working copy's form of a value being set or appended (a provider's key becomes its state). */
function docValue(path, value) {
  if (isKeyPath(path)) return keyStateOf(value);
  if (path.length === 1 && path[0] === "Providers" && Array.isArray(value)) return value.map(providerDoc);
  if (path.length === 2 && path[0] === "Providers" && typeof path[1] === "number") return providerDoc(value);
  return structuredClone(value);
}

function providerDoc(provider) {
  if (!provider || typeof provider !== "object") return provider;
  return { ...structuredClone(provider), api_key: keyStateOf(provider.api_key) };
}

/** Apply one Change to `doc` (mutated). Throws when the path does not fit the document. */
export function applyChange(doc, change) {
  const { path } = change;
  let node = doc;
  for (const segment of path.slice(0, -1)) {
    if (node[segment] === undefined || node[segment] === null) {
      if (typeof segment === "number" || Array.isArray(node)) throw new Error(`${pathText(path)} does not exist`);
      node[segment] = {};
    }
    node = node[segment];
    if (typeof node !== "object") throw new Error(`${pathText(path)} is inside a value that is not an object`);
  }
  const last = path[path.length - 1];
  if ("append" in change) {
    if (!Array.isArray(node[last])) throw new Error(`${pathText(path)} is not a list`);
    node[last].push(docValue([...path, node[last].length], change.append));
  } else if (change.delete) {
    if (Array.isArray(node)) node.splice(last, 1);
    else delete node[last];
  } else {
    node[last] = docValue(path, change.value);
  }
}

/** The pending changes over the loaded config; `doc` is the working copy. */
export class Pending {
  constructor(view) {
    this.view = view;
    this.version = view.version;
    this.changes = [];
    this.doc = docFromView(view);
  }

  /**
   * Add a change; a set of the same path as the previous change replaces it (typing makes one change).
   * A change that does not fit the working copy throws, and leaves the pending changes as they were.
   */
  add(change) {
    const last = this.changes[this.changes.length - 1];
    try {
      applyChange(this.doc, change);
    } catch (error) {
      this.replay(this.changes);
      throw error;
    }
    if (last && isSet(last) && isSet(change) && samePath(last.path, change.path)) this.changes.pop();
    this.changes.push(change);
  }

  /** Remove change `index`; later changes that no longer fit are dropped too. Returns how many were dropped. */
  remove(index) {
    return this.replay(this.changes.filter((_, i) => i !== index));
  }

  /** The working copy rebuilt from the loaded config and `changes`; returns how many no longer fit (dropped). */
  replay(changes) {
    this.changes = [];
    this.doc = docFromView(this.view);
    let dropped = 0;
    for (const change of changes) {
      try {
        applyChange(this.doc, change);
        this.changes.push(change);
      } catch {
        dropped += 1;
      }
    }
    return dropped;
  }

  get size() {
    return this.changes.length;
  }
}

function isSet(change) {
  return "value" in change;
}

function samePath(a, b) {
  return a.length === b.length && a.every((segment, i) => segment === b[i]);
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** ["Providers", 1, "models"] → "Providers[1].models"; ["Prices", "a,b", "input"] → "Prices['a,b'].input". */
export function pathText(path) {
  return path
    .map((segment, i) => {
      if (typeof segment === "number") return `[${segment}]`;
      if (IDENTIFIER.test(segment)) return i ? `.${segment}` : segment;
      return `['${segment.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}']`;
    })
    .join("");
}

const TOKEN = /^(?:\.?([^.[\]'"]+)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]|\["((?:[^"\\]|\\.)*)"\])/;

/** A path as text (either pathText's form or the loader's) → its segments as strings, for matching errors. */
export function pathTokens(text) {
  const tokens = [];
  let rest = String(text || "").trim();
  while (rest) {
    const match = TOKEN.exec(rest);
    if (!match) {
      const end = rest.slice(1).search(/[.[]/);
      tokens.push(rest.slice(rest[0] === "." ? 1 : 0, end < 0 ? undefined : end + 1));
      rest = end < 0 ? "" : rest.slice(end + 1);
      continue;
    }
    const quoted = match[3] ?? match[4];
    tokens.push(match[1] ?? match[2] ?? quoted.replace(/\\(.)/g, "$1"));
    rest = rest.slice(match[0].length);
  }
  return tokens;
}

/** A line for the pending list; a key being written is never shown. */
export function describe(change) {
  const where = pathText(change.path);
  if (change.delete) return `remove ${where}`;
  if ("append" in change) return `add to ${where}: ${summary(change.append)}`;
  if (isKeyPath(change.path)) {
    const state = keyStateOf(change.value);
    return state.kind === "variable" ? `set ${where} to $${state.variable}` : `write a new key at ${where}`;
  }
  return `set ${where} = ${summary(change.value)}`;
}

function summary(value) {
  if (value && typeof value === "object" && !Array.isArray(value) && "name" in value) return `"${value.name}" …`;
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

/** Every "provider,model" the working copy's providers offer. */
export function targetChoices(doc) {
  return (doc.Providers || []).flatMap((p) => (p?.models || []).map((model) => `${p.name},${model}`));
}
