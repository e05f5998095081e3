"""Plausible wrong answers to lesson 04's exercises: each must fail the visible check (with an AssertionError
that says what differs) and the hidden tests."""
WRONG_ANSWERS = {
    "convlstm-shape-check": {
        "counts one gate instead of four": ("params = 4 * (", "params = ("),
        "leaves out the recurrent kernel": ("(channels + filters) * filters", "channels * filters"),
        "leaves out the bias": ("* filters + filters)", "* filters)"),
        "counts one bias for all four gates": (
            "params = 4 * (kernel_size * kernel_size * (channels + filters) * filters + filters)",
            "params = 4 * kernel_size * kernel_size * (channels + filters) * filters + filters"),
        "valid padding loses k // 2 rows and columns": (
            "rows - kernel_size + 1, cols - kernel_size + 1", "rows - kernel_size // 2, cols - kernel_size // 2"),
        "valid padding loses k rows and columns": (
            "rows - kernel_size + 1, cols - kernel_size + 1", "rows - kernel_size, cols - kernel_size"),
        "ignores return_sequences": (
            "(batch, steps, rows, cols, filters) if return_sequences else (batch, rows, cols, filters)",
            "(batch, steps, rows, cols, filters)"),
        "ignores padding": ('if padding == "valid":', "if False:"),
    },
    "convlstm-step-check": {
        "splits the gates as i, c, f, o": ("z_i, z_f, z_c, z_o = tf.split", "z_i, z_c, z_f, z_o = tf.split"),
        "leaves out the bias": ('padding="SAME") + bias)', 'padding="SAME"))'),
        "sigmoid on the candidate": ("tf.sigmoid(z_i) * tf.tanh(z_c)", "tf.sigmoid(z_i) * tf.sigmoid(z_c)"),
        "no tanh on the new cell state": ("h = tf.sigmoid(z_o) * tf.tanh(c)", "h = tf.sigmoid(z_o) * c"),
        "forgets the old cell state": ("c = tf.sigmoid(z_f) * c + ", "c = "),
        "forget gate on the candidate, input gate on the old state": (
            "tf.sigmoid(z_f) * c + tf.sigmoid(z_i) * tf.tanh(z_c)", "tf.sigmoid(z_i) * c + tf.sigmoid(z_f) * tf.tanh(z_c)"),
        "returns (c, h)": ("return h, c", "return c, h"),
        "returns the old cell state": (
            "c = tf.sigmoid(z_f) * c + tf.sigmoid(z_i) * tf.tanh(z_c)\n    h = tf.sigmoid(z_o) * tf.tanh(c)\n    return h, c",
            "new_c = tf.sigmoid(z_f) * c + tf.sigmoid(z_i) * tf.tanh(z_c)\n    h = tf.sigmoid(z_o) * tf.tanh(new_c)\n"
            "    return h, c"),
    },
    "rollout-check": {
        "predicts every frame from the context alone": (
            "frames = np.concatenate([frames, next_frame], axis=1)\n    return frames[:, context.shape[1]:]",
            "frames = np.concatenate([frames, next_frame], axis=1)\n"
            "    return np.repeat(frames[:, context.shape[1]:context.shape[1] + 1], steps, axis=1)"),
        "takes the model's first output instead of its last": ("[:, -1:]", "[:, :1]"),
        "returns the context too": ("return frames[:, context.shape[1]:]", "return frames"),
        "predicts one frame too few": ("for _ in range(steps):", "for _ in range(steps - 1):"),
        "feeds back the true last context frame": (
            "frames = np.concatenate([frames, next_frame], axis=1)",
            "frames = np.concatenate([frames, frames[:, -1:]], axis=1)"),
    },
}
