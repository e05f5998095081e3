"""Plausible wrong answers to lesson 06's exercises: each must fail the visible check (with an AssertionError
that says what differs) and the hidden tests."""
WRONG_ANSWERS = {
    "bits-per-character-check": {
        "natural log (nats)": ("-np.log2(picked)", "-np.log(picked)"),
        "log10": ("-np.log2(picked)", "-np.log10(picked)"),
        "no minus sign": ("-np.log2(picked)", "np.log2(picked)"),
        "the sum instead of the mean": ("-np.log2(picked).mean()", "-np.log2(picked).sum()"),
        "bits per sequence (sum over positions, mean over sequences)": (
            "-np.log2(picked).mean()", "-np.log2(picked).sum(axis=-1).mean()"),
        "the mean probability of the target instead of -log2": ("-np.log2(picked).mean()", "picked.mean()"),
        "perplexity instead of bits per character": ("-np.log2(picked).mean()", "2 ** -np.log2(picked).mean()"),
        "-log2 of every entry of probs": ("-np.log2(picked).mean()", "-np.log2(probs).mean()"),
        "the most probable character's probability, not the target's": (
            "np.take_along_axis(probs, targets[..., None], axis=-1)[..., 0]", "probs.max(axis=-1)"),
        "indexes 2-D probs only (probs[range(n), targets])": (
            "np.take_along_axis(probs, targets[..., None], axis=-1)[..., 0]",
            "probs[np.arange(len(targets)), targets]"),
        "targets shifted by one position": (
            "np.take_along_axis(probs, targets[..., None], axis=-1)[..., 0]",
            "np.take_along_axis(probs[..., :-1, :], targets[..., 1:, None], axis=-1)[..., 0]"),
        "the mean over the batch axis only (an array, not a float)": (
            "return float(-np.log2(picked).mean())", "return -np.log2(picked).mean(axis=0)"),
        "the textbook one-hot cross-entropy (0 * log2 0 is nan where a probability is 0)": (
            "    picked = np.take_along_axis(probs, targets[..., None], axis=-1)[..., 0]\n"
            "    return float(-np.log2(picked).mean())",
            "    onehot = np.eye(probs.shape[-1])[targets]\n"
            "    return float(-(onehot * np.log2(probs)).sum(axis=-1).mean())"),
    },
    "sampling-check": {
        "temperature multiplied instead of divided": ("scaled = logits / temperature", "scaled = logits * temperature"),
        "no softmax (the scaled logits normalised)": ("weights = np.exp(scaled)", "weights = scaled"),
        "no max subtraction (large logits overflow)": (
            "    scaled = scaled - scaled.max(axis=-1, keepdims=True)\n", ""),
        "top-k keeps k + 1": ("[..., -top_k]", "[..., -top_k - 1]"),
        "top-k keeps k - 1": ("[..., -top_k]", "[..., -top_k + 1]"),
        "top_k ignored": ("    if top_k is not None:", "    if False:"),
        "top-k not renormalised (softmax first, then the tail zeroed)": (
            "    scaled = scaled - scaled.max(axis=-1, keepdims=True)\n"
            "    weights = np.exp(scaled)\n"
            "    return weights / weights.sum(axis=-1, keepdims=True)",
            "    full = np.exp(logits / temperature - (logits / temperature).max(axis=-1, keepdims=True))\n"
            "    return np.where(np.isfinite(scaled), full / full.sum(axis=-1, keepdims=True), 0.0)"),
        "temperature 0 divides by zero in temperature_probs": ("    if temperature == 0:\n        return (logits",
                                                               "    if False:\n        return (logits"),
        "sample_next always returns the argmax": (
            "    if temperature == 0:\n        return logits.argmax(axis=-1)", "    return logits.argmax(axis=-1)"),
        "sample_next ignores the temperature": (
            "probs = temperature_probs(logits, temperature, top_k)", "probs = temperature_probs(logits, 1.0, top_k)"),
        "sample_next ignores top_k": (
            "probs = temperature_probs(logits, temperature, top_k)", "probs = temperature_probs(logits, temperature)"),
        "the global np.random instead of rng": (
            "draws = rng.random(logits.shape[:-1])", "draws = np.random.random(logits.shape[:-1])"),
        "one draw shared by every row": ("draws = rng.random(logits.shape[:-1])[..., None]", "draws = rng.random()"),
        "sample_next returns the probabilities": (
            "    cumulative = probs.cumsum(axis=-1)", "    return probs\n    cumulative = probs.cumsum(axis=-1)"),
    },
    "dot-attention-check": {
        "scores scaled by 1/sqrt(d)": (
            "scores = query @ np.swapaxes(keys, -1, -2)",
            "scores = query @ np.swapaxes(keys, -1, -2) / np.sqrt(query.shape[-1])"),
        "mask ignored": ("    if mask is not None:\n        scores", "    if False:\n        scores"),
        "masked scores set to 0 instead of -inf": ("scores, -np.inf)", "scores, 0.0)"),
        "mask inverted": ("np.asarray(mask, dtype=bool)[:, None, :], scores", "~np.asarray(mask, dtype=bool)[:, None, :], scores"),
        "mask applied after the softmax (weights not renormalised)": (
            "def dot_attention(query, keys, values, mask=None):\n"
            "    scores = query @ np.swapaxes(keys, -1, -2)\n"
            "    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))\n"
            "    weights = weights / weights.sum(axis=-1, keepdims=True)\n"
            "    if mask is not None:\n"
            "        weights = weights * np.asarray(mask, dtype=bool)[:, None, :]\n"
            "    return weights @ values, weights\n"),
        "mask broadcast over the wrong axis": ("np.asarray(mask, dtype=bool)[:, None, :]",
                                               "np.asarray(mask, dtype=bool)[:, :, None]"),
        "fails without a mask": ("    if mask is not None:\n        scores", "    if True:\n        scores"),
        "softmax over the query axis": (
            "    scores = scores - scores.max(axis=-1, keepdims=True)\n"
            "    weights = np.exp(scores)\n"
            "    weights = weights / weights.sum(axis=-1, keepdims=True)",
            "    weights = np.exp(scores - scores.max(axis=-2, keepdims=True))\n"
            "    weights = weights / weights.sum(axis=-2, keepdims=True)"),
        "unnormalised weights (exp of the scores)": (
            "    weights = weights / weights.sum(axis=-1, keepdims=True)\n", ""),
        "no softmax (the raw scores as weights)": ("    weights = np.exp(scores)\n", "    weights = scores\n"),
        "keys used as values": ("return weights @ values, weights", "return weights @ keys, weights"),
        "keys not transposed (query @ keys)": ("query @ np.swapaxes(keys, -1, -2)", "query @ keys"),
    },
    "greedy-decode-check": {
        "argmax of the first position instead of the last": ("probs[:, -1].argmax", "probs[:, 0].argmax"),
        "argmax over the batch axis": ("probs[:, -1].argmax(axis=-1)", "probs[:, -1].argmax(axis=0)"),
        "start token kept in the output": ("return tokens[:, 1:]", "return tokens"),
        "one step too few": ("for _ in range(length):", "for _ in range(length - 1):"),
        "one step too many": ("for _ in range(length):", "for _ in range(length + 1):"),
        "own prediction not fed back (the model reads the start token every step)": (
            "next_token_probs(tokens)", "next_token_probs(tokens[:, :1])"),
        "feeds back only the last token": ("next_token_probs(tokens)", "next_token_probs(tokens[:, -1:])"),
        "returns the probabilities of the last step": ("    return tokens[:, 1:]", "    return probs"),
        "row 0's argmax appended to every row": (
            'probs[:, -1].argmax(axis=-1)[:, None].astype("int32")',
            'np.full((len(tokens), 1), probs[0, -1].argmax(), dtype="int32")'),
    },
}
