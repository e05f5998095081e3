"""Plausible wrong answers to lesson 02's exercises: each must fail the visible check (with an AssertionError
that says what differs) and the hidden tests."""
WRONG_ANSWERS = {
    "lstm-forward-check": {
        "gate order i, f, o, C~": ("i, f, c_tilde, o = np.split", "i, f, o, c_tilde = np.split"),
        "gate order f, i, C~, o": ("i, f, c_tilde, o = np.split", "f, i, c_tilde, o = np.split"),
        "forget gate without sigmoid": ("c = sigmoid(f) * c", "c = f * c"),
        "candidate through sigmoid": ("sigmoid(i) * np.tanh(c_tilde)", "sigmoid(i) * sigmoid(c_tilde)"),
        "h without tanh of the cell": ("h = sigmoid(o) * np.tanh(c)", "h = sigmoid(o) * c"),
        "cell state not carried": ("c = sigmoid(f) * c + sigmoid(i) * np.tanh(c_tilde)",
                                   "c = sigmoid(i) * np.tanh(c_tilde)"),
        "hidden state not carried": ("+ h @ recurrent_kernel", "+ np.zeros_like(h) @ recurrent_kernel"),
        "leaves out the bias": ("+ h @ recurrent_kernel + bias", "+ h @ recurrent_kernel"),
        "returns the cell states": ("states.append(h)", "states.append(c)"),
        "returns the last state only": ("return np.stack(states, axis=1)", "return h"),
        "stacks time first": ("return np.stack(states, axis=1)", "return np.stack(states)"),
    },
    "encode-check": {
        "splits on single spaces": ("cleaned.split()", 'cleaned.split(" ")'),
        "no lowercasing": ("text.lower().translate", "text.translate"),
        "punctuation left in": ('.translate(str.maketrans("", "", string.punctuation))', ""),
        "punctuation becomes spaces": ('str.maketrans("", "", string.punctuation)',
                                       'str.maketrans(string.punctuation, " " * len(string.punctuation))'),
        "unknown words become 0": ("index.get(word, 1)", "index.get(word, 0)"),
        "keeps the last words": ("for word in cleaned.split()][:length]", "for word in cleaned.split()][-length:]"),
        "pads at the start": ("return ids + [0] * (length - len(ids))", "return [0] * (length - len(ids)) + ids"),
        "never truncates": ("for word in cleaned.split()][:length]", "for word in cleaned.split()]"),
    },
    "recurrent-layers-check": {
        "bilstm sums its directions": ("return [layers.Bidirectional(layers.LSTM(units))]",
                                       'return [layers.Bidirectional(layers.LSTM(units), merge_mode="sum")]'),
        "stacked second layer averages its directions": (
            "                layers.Bidirectional(layers.LSTM(units))]",
            '                layers.Bidirectional(layers.LSTM(units), merge_mode="ave")]'),
        "stacked first layer returns its final state only": (
            "layers.Bidirectional(layers.LSTM(units, return_sequences=True)),",
            "layers.Bidirectional(layers.LSTM(units)),"),
        "lstm returns sequences": ('return [layers.LSTM(units)]', 'return [layers.LSTM(units, return_sequences=True)]'),
        "units fixed at 64": ("return [layers.LSTM(units)]", "return [layers.LSTM(64)]"),
        "simplernn built from an LSTM": ("return [layers.SimpleRNN(units)]", "return [layers.LSTM(units)]"),
        "bilstm as two forward LSTMs": ("return [layers.Bidirectional(layers.LSTM(units))]",
                                        "return [layers.LSTM(units, return_sequences=True), layers.LSTM(units)]"),
        "stacked with one layer": (
            "layers.Bidirectional(layers.LSTM(units, return_sequences=True)),\n                "
            "layers.Bidirectional(layers.LSTM(units))]",
            "layers.Bidirectional(layers.LSTM(units))]"),
        "unknown kind gives no layers": ('raise ValueError(f"Unknown kind {kind!r}.")', "return []"),
    },
}
