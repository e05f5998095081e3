"""Plausible wrong answers to lesson 01's exercises: each must fail the visible check (with an AssertionError
that says what differs) and the hidden tests."""
WRONG_ANSWERS = {
    "rnn-forward-check": {  # the graded check cell's id; answers replace the solution cell just before it
        "leaves out the bias": (" + bias)", ")"),
        "starts h at ones": ("np.zeros((x.shape[0]", "np.ones((x.shape[0]"),
        "uses the recurrent kernel transposed": ("h @ recurrent_kernel", "h @ recurrent_kernel.T"),
        "applies tanh to the input term only": ("np.tanh(x[:, t] @ kernel + h @ recurrent_kernel + bias)",
                                                "np.tanh(x[:, t] @ kernel) + h @ recurrent_kernel + bias"),
        "uses ReLU instead of tanh": ("np.tanh(", "np.maximum(0, "),
        "never carries the state forward": (
            "h = np.tanh(x[:, t] @ kernel + h @ recurrent_kernel + bias)\n        states.append(h)",
            "states.append(np.tanh(x[:, t] @ kernel + h @ recurrent_kernel + bias))"),
        "returns the last state only": ("return np.stack(states, axis=1)", "return h"),
        "stacks time first": ("np.stack(states, axis=1)", "np.stack(states, axis=0)"),
        "returns a list of states": ("return np.stack(states, axis=1)", "return states"),
    },
    "rnn-shape-check": {
        "swaps the two cases": ("(batch, time, units) if return_sequences else (batch, units)",
                                "(batch, units) if return_sequences else (batch, time, units)"),
        "uses features instead of units": ("(batch, time, units) if return_sequences else (batch, units)",
                                           "(batch, time, features) if return_sequences else (batch, features)"),
        "keeps a time axis of 1 for many-to-one": ("else (batch, units)", "else (batch, 1, units)"),
        "leaves out the batch": ("(batch, time, units) if return_sequences else (batch, units)",
                                 "(time, units) if return_sequences else (units,)"),
        "returns the number of units only": ("(batch, time, units) if return_sequences else (batch, units)", "units"),
    },
}
