"""Plausible wrong answers to lesson 03's exercises: each must fail the visible check (with an AssertionError
that says what differs) and the hidden tests."""
WRONG_ANSWERS = {
    "gru-forward-check": {  # the graded check cell's id; answers replace the solution cell just before it
        "swaps the update and reset gates": ("z = sigmoid(x_z + h_z)\n        r = sigmoid(x_r + h_r)",
                                             "z = sigmoid(x_r + h_r)\n        r = sigmoid(x_z + h_z)"),
        "keeps 1 - z of the old state": ("h = z * h + (1 - z) * candidate", "h = (1 - z) * h + z * candidate"),
        "resets before the recurrent product (reset_after=False)": (
            "candidate = np.tanh(x_h + r * h_h)",
            "units = h.shape[1]\n"
            "        candidate = np.tanh(x_h + (r * h) @ recurrent_kernel[:, 2 * units:] + bias[1][2 * units:])"),
        "leaves out the recurrent bias": ("h @ recurrent_kernel + bias[1]", "h @ recurrent_kernel"),
        "uses bias[0] on both sides": ("h @ recurrent_kernel + bias[1]", "h @ recurrent_kernel + bias[0]"),
        "lets the reset gate skip the candidate": ("candidate = np.tanh(x_h + r * h_h)", "candidate = np.tanh(x_h + h_h)"),
        "uses tanh for the gates": ("return 1.0 / (1.0 + np.exp(-a))", "return np.tanh(a)"),
        "starts h at ones": ("np.zeros((x.shape[0]", "np.ones((x.shape[0]"),
        "returns the last state only": ("return np.stack(states, axis=1)", "return h"),
        "returns a list of states": ("return np.stack(states, axis=1)", "return states"),
    },
    "param-counts-check": {
        "gives the GRU one bias per block": ('"GRU": 3 * (block + n)', '"GRU": 3 * block'),
        "gives the LSTM three blocks": ('"LSTM": 4 * block', '"LSTM": 3 * block'),
        "leaves out the biases": ("block = n * m + n * n + n", "block = n * m + n * n"),
        "makes the recurrent matrix n x m": ("block = n * m + n * n + n", "block = n * m + n * m + n"),
        "swaps units and input size": ("n, m = units, input_size", "n, m = input_size, units"),
        "adds the GRU's second bias once, not per block": ('"GRU": 3 * (block + n)', '"GRU": 3 * block + n'),
        "returns the counts as a list": (
            'return {"SimpleRNN": block, "LSTM": 4 * block, "GRU": 3 * (block + n)}',
            "return [block, 4 * block, 3 * (block + n)]"),
    },
}
