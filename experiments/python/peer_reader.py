"""Reads what `peer` writes, with numpy alone (Debian's python3-numpy; Python 3.11+ for tomllib).

- load(path): a `peer export` file (experiments/MODEL_FORMAT.md) as a Model: tensors, resolved
  config, vocabulary, step, commit.
- encode/decode: text <-> token ids with the model's byte vocabulary.
- logits(model, ids) and loss(model, tokens): the forward pass of dense, MoE and PEER models in
  evaluation mode, each layer a short function that mirrors a section of MODEL_FORMAT.md.
  loss() scores a token sequence as `peer eval DIR --data FILE` does.
- read_metrics(path): a run's metrics.jsonl as flat rows (pandas.DataFrame(rows) takes them).

Command line: python3 peer_reader.py FILE.safetensors --data TEXT_FILE
prints {"loss": ..., "tokens": ...} as one JSON line, the numbers `peer eval RUN --data` prints.
"""
import json
import math
import struct
import sys
import tomllib

import numpy as np

LAYERNORM_EPS = 1e-5
BATCHNORM_EPS = 1e-5


class Model:
    def __init__(self, tensors, metadata):
        self.tensors = tensors  # name -> float32 array, shapes as in MODEL_FORMAT.md
        self.metadata = metadata  # the file's __metadata__ (strings)
        self.config = tomllib.loads(metadata["peer.config"])
        self.vocab = bytes(json.loads(metadata["peer.vocab"]))  # id -> byte
        self.step = int(metadata["peer.step"])
        self.commit = metadata.get("peer.commit", "")

    def __getitem__(self, name):
        return self.tensors[name]

    def has(self, name):
        return name in self.tensors


# ---- the file ----

def load_safetensors(path):
    """(tensors, metadata) of a safetensors file: 8-byte little-endian header length, JSON
    header, raw little-endian data. Only F32 tensors (all that peer writes)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} is {info['dtype']}, expected F32")
        begin, end = info["data_offsets"]
        raw = np.frombuffer(data, dtype="<f4", count=(end - begin) // 4, offset=8 + n + begin)
        tensors[name] = raw.reshape(info["shape"]).astype(np.float32)
    return tensors, metadata


def load(path):
    tensors, metadata = load_safetensors(path)
    if metadata.get("peer.format") != "peer-export-1":
        raise ValueError(f"{path}: not a `peer export` file (peer.format is {metadata.get('peer.format')!r})")
    return Model(tensors, metadata)


# ---- tokenizer: one byte per token ----

def encode(model, text):
    """Token ids (int64) of text (str as UTF-8, or bytes); ValueError on a byte outside the vocabulary."""
    data = text.encode() if isinstance(text, str) else text
    table = np.full(256, -1, dtype=np.int64)
    table[np.frombuffer(model.vocab, dtype=np.uint8)] = np.arange(len(model.vocab))
    ids = table[np.frombuffer(data, dtype=np.uint8)]
    bad = np.flatnonzero(ids < 0)
    if bad.size:
        raise ValueError(f"byte {data[bad[0]]} at position {bad[0]} is not in the model's vocabulary")
    return ids


def decode(model, ids):
    return bytes(model.vocab[i] for i in ids).decode(errors="replace")


# ---- layers (MODEL_FORMAT.md, "Forward pass") ----

def linear(x, w, b=None):
    """x (N, in) -> (N, out); w (out, in)."""
    y = x @ w.T
    return y if b is None else y + b


def layernorm(x, w, b):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + LAYERNORM_EPS) * w + b


_erf = np.vectorize(math.erf, otypes=[np.float64])


def activation(name, x):
    """relu, or gelu in its exact erf form."""
    if name == "relu":
        return np.maximum(x, 0)
    return (0.5 * x * (1.0 + _erf(x.astype(np.float64) / math.sqrt(2.0)))).astype(np.float32)


def softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def top_k(scores, k):
    """Per row of scores (rows, n): the indices of the k best, score descending, ties by lower
    index. Exact: every score >= the row's k-th largest is a candidate, sorted stably."""
    kth = np.partition(scores, -k, axis=1)[:, -k]
    index = np.empty((len(scores), k), dtype=np.int64)
    for r, row in enumerate(scores):
        candidates = np.flatnonzero(row >= kth[r])  # ascending index
        index[r] = candidates[np.argsort(-row[candidates], kind="stable")[:k]]
    return index


def attention(m, p, x, B, T):
    """Causal multi-head self-attention of block prefix p: x (B*T, C) -> (B*T, C)."""
    C, H = x.shape[1], m.config["model"]["n_head"]
    hs = C // H
    qkv = linear(x, m[p + "qkv.weight"]).reshape(B, T, 3, H, hs)  # columns: q | k | v, head-major
    q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))  # (B, H, T, hs)
    scores = q @ k.transpose(0, 1, 3, 2) / np.float32(math.sqrt(hs))
    scores = np.where(np.tril(np.ones((T, T), dtype=bool)), scores, -np.inf)  # key j <= query i
    att = (softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(B * T, C)
    return linear(att, m[p + "proj.weight"], m[p + "proj.bias"])


def dense_ffn(m, p, x, act):
    """Linear(d, d_ff) -> act -> Linear(d_ff, d)."""
    return linear(activation(act, linear(x, m[p + "fc.weight"], m[p + "fc.bias"])), m[p + "out.weight"],
                  m[p + "out.bias"])


def route(m, p, x):
    """MoE router without noise: (expert (N, k), gate (N, k)), choices best first."""
    cfg = m.config["moe"]
    kind = cfg["router"]
    k = 1 if kind == "switch" else cfg["top_k"]
    z = linear(x, m[p + "router.gate.weight"], m[p + "router.gate.bias"])  # (N, E) logits
    expert = top_k(z, k)
    chosen = np.take_along_axis(z, expert, axis=1)
    if kind == "switch" or k == 1:
        gate = np.take_along_axis(softmax(z), expert, axis=1)  # the choice's probability over all E
    else:
        gate = softmax(chosen)  # softmax over the k kept logits
    return expert, gate


def capacity_keep(expert, gate, E, factor):
    """(N, k) bool: which assignments fit the capacity ceil(factor * N * k / E) (0 = dropless).
    Slots go by priority: all first choices before second choices, then gate (highest first),
    then token index."""
    N, k = expert.shape
    if factor <= 0:
        return np.ones((N, k), dtype=bool)
    capacity = math.ceil(factor * (N * k) / E)
    rank, token = np.meshgrid(np.arange(k), np.arange(N))
    order = np.lexsort((token.ravel(), -gate.ravel(), rank.ravel()))
    keep = np.zeros(N * k, dtype=bool)
    used = np.zeros(E, dtype=np.int64)
    for a in order:
        e = expert.ravel()[a]
        keep[a] = used[e] < capacity
        used[e] += 1
    return keep.reshape(N, k)


def moe_ffn(m, p, x):
    """Router -> capacity -> each kept choice's expert MLP, weighted by its gate (+ shared experts)."""
    cfg, act = m.config["moe"], m.config["model"]["activation"]
    w1, b1, w2, b2 = (m[p + "experts." + n] for n in ("w1", "b1", "w2", "b2"))
    expert, gate = route(m, p, x)
    keep = capacity_keep(expert, gate, w1.shape[0], cfg["eval_capacity_factor"])
    y = np.zeros_like(x)
    for e in range(len(w1)):
        t, s = np.nonzero(keep & (expert == e))  # its tokens (each at most once)
        h = activation(act, x[t] @ w1[e].T + b1[e])
        y[t] += gate[t, s][:, None] * (h @ w2[e].T + b2[e])
    if m.has(p + "shared.fc.weight"):
        y += dense_ffn(m, p + "shared.", x, act)
    return y


def peer_pools(m, p):
    pools, i = [], 0
    while m.has(f"{p}pools.{i}.U"):
        pools.append({n: m[f"{p}pools.{i}.{n}"] for n in ("keys1", "keys2", "U", "V")})
        i += 1
    return pools


def expert_scores(q, pools):
    """q (Q, d_key) -> (Q, all experts) in global index order: pools in order, expert i1 * n2 + i2
    of a pool scoring q1 . keys1[i1] + q2 . keys2[i2]."""
    half = q.shape[1] // 2
    return np.concatenate([((q[:, :half] @ pl["keys1"].T)[:, :, None] + (q[:, half:] @ pl["keys2"].T)[:, None, :])
                           .reshape(len(q), -1) for pl in pools], axis=1)


def peer_retrieve(q, pools, k, chunk=64):
    """Exact top-k by brute force over every expert of every pool, for queries q (Q, d_key):
    (global index, score), each (Q, k), best first. Queries go `chunk` at a time (memory)."""
    index = np.empty((len(q), k), dtype=np.int64)
    score = np.empty((len(q), k), dtype=np.float32)
    for c in range(0, len(q), chunk):
        scores = expert_scores(q[c:c + chunk], pools)
        index[c:c + chunk] = top_k(scores, k)
        score[c:c + chunk] = np.take_along_axis(scores, index[c:c + chunk], axis=1)
    return index, score


def expert_rows(pools, table, index):
    """Rows of the experts `index` (global indices) from the pools' U or V tables: (*index.shape, d)."""
    out = np.empty(index.shape + (pools[0][table].shape[1],), dtype=np.float32)
    start = 0
    for pl in pools:
        mine = (index >= start) & (index < start + len(pl[table]))
        out[mine] = pl[table][index[mine] - start]
        start += len(pl[table])
    return out


def peer_ffn(m, p, x):
    """Per head: query -> BatchNorm (running statistics) -> product-key top-k -> softmax of the
    k scores -> sum_j w_j act(u_j . x) v_j; summed over heads."""
    cfg = m.config["peer"]
    H, dk, k = cfg["heads"], cfg["d_key"], cfg["top_k"]
    q = linear(x, m[p + "query.weight"])  # (N, H*d_key)
    if m.has(p + "query_bn.weight"):
        q = ((q - m[p + "query_bn.running_mean"]) / np.sqrt(m[p + "query_bn.running_var"] + BATCHNORM_EPS) *
             m[p + "query_bn.weight"] + m[p + "query_bn.bias"])
    pools = peer_pools(m, p)
    index, score = peer_retrieve(q.reshape(-1, dk), pools, k)  # row t*H + h: head h of token t
    w = softmax(score).reshape(len(x), H * k, 1)
    index = index.reshape(len(x), H * k)
    pre = np.einsum("nd,njd->nj", x, expert_rows(pools, "U", index))  # u_j . x
    return (w * activation(cfg["activation"], pre)[:, :, None] * expert_rows(pools, "V", index)).sum(axis=1)


def ffn(m, p, x):
    """The FFN slot of a block: its kind is read from the tensor names."""
    if m.has(p + "fc.weight"):
        return dense_ffn(m, p, x, m.config["model"]["activation"])
    if m.has(p + "router.gate.weight"):
        return moe_ffn(m, p, x)
    return peer_ffn(m, p, x)


def logits(m, ids):
    """ids (B, T) token ids -> logits (B*T, vocab)."""
    B, T = ids.shape
    x = m["wte.weight"][ids.ravel()] + m["wpe.weight"][np.tile(np.arange(T), B)]
    for layer in range(m.config["model"]["n_layer"]):
        p = f"blocks.{layer}."
        x = x + attention(m, p + "attn.", layernorm(x, m[p + "ln1.weight"], m[p + "ln1.bias"]), B, T)
        x = x + ffn(m, p + "ffn.", layernorm(x, m[p + "ln2.weight"], m[p + "ln2.bias"]))
    x = layernorm(x, m["ln_f.weight"], m["ln_f.bias"])
    return linear(x, m["lm_head.weight"], m["lm_head.bias"])


def cross_entropy(z, targets):
    """Per-row loss logsumexp(z) - z[target], in float64."""
    z = z.astype(np.float64)
    mx = z.max(axis=1)
    lse = mx + np.log(np.exp(z - mx[:, None]).sum(axis=1))
    return lse - z[np.arange(len(z)), targets]


def loss(m, tokens, batch_size=None):
    """Mean loss over tokens as `peer eval --data`: consecutive windows of block_size + 1 tokens
    (window w predicts tokens[w*T + 1 .. w*T + T]), batch_size windows per forward pass (default
    train.batch_size; MoE capacity depends on the tokens of one pass). Returns (loss, tokens)."""
    T = m.config["model"]["block_size"]
    B = batch_size or m.config["train"]["batch_size"]
    windows = (len(tokens) - 1) // T
    total = 0.0
    for w0 in range(0, windows, B):
        starts = np.arange(w0, min(w0 + B, windows)) * T
        pos = starts[:, None] + np.arange(T)[None, :]
        total += cross_entropy(logits(m, tokens[pos]), tokens[pos + 1].ravel()).sum()
    return total / (windows * T), windows * T


# ---- metrics.jsonl ----

def flatten(row, prefix=""):
    """Nested lists and objects become scalar columns: "x.load": [a, b] -> "x.load.0", "x.load.1"."""
    out = {}
    for key, value in row.items():
        name = prefix + key
        if isinstance(value, list):
            value = {str(i): v for i, v in enumerate(value)}
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def read_metrics(path):
    """A run's metrics.jsonl as a list of flat dicts, one a line (experiments/README.md lists the
    fields), e.g. pandas.DataFrame(read_metrics("runs/x/metrics.jsonl")).query("split == 'val'")."""
    with open(path) as f:
        return [flatten(json.loads(line)) for line in f if line.strip()]


def main(argv):
    if len(argv) != 4 or argv[2] != "--data":
        print("usage: python3 peer_reader.py FILE.safetensors --data TEXT_FILE", file=sys.stderr)
        return 2
    m = load(argv[1])
    with open(argv[3], "rb") as f:
        value, n = loss(m, encode(m, f.read()))
    print(json.dumps({"loss": value, "tokens": n}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
