"""Plausible wrong answers to lesson 05's exercises: each must fail the visible check (with an AssertionError
that says what differs) and the hidden tests."""
WRONG_ANSWERS = {
    "clean-tweets-check": {
        "does not lower-case": ("    x = tf.strings.lower(texts)\n", "    x = texts\n"),
        "keeps URLs": ('    x = tf.strings.regex_replace(x, r"https?://\\S+|www\\.\\S+", " ")  # links\n', ""),
        "`@w+` without the backslash": ('r"@\\w+"', 'r"@w+"'),
        "removes hashtag words with the sign": ('r"#", " ")', 'r"#\\w+", " ")'),
        "`&#39;` not read as an apostrophe (it's -> it s)": ('"&#39;|&#x27;|\\u2019"', '"\\u2019"'),
        "curly apostrophe not mapped (don\u2019t -> don t)": ('"&#39;|&#x27;|\\u2019"', '"&#39;|&#x27;"'),
        "keeps only the punctuation (the classic `[A-Za-z0-9\\s]+`)": ('r"[^a-z\\s]", " ")', 'r"[a-z0-9\\s]+", " ")'),
        "apostrophe becomes a space": ('r"\'", "")', 'r"\'", " ")'),
    },
    "choose-threshold-check": {
        "chooses by accuracy instead of F1": (
            "f1s = [f1_score(y_true, (probs >= t).astype(int), zero_division=0) for t in THRESHOLDS]",
            "f1s = [accuracy_score(y_true, (probs >= t).astype(int)) for t in THRESHOLDS]"),
        "predicts 1 only above the threshold (>)": ("(probs >= t)", "(probs > t)"),
        "returns the last of tied thresholds": (
            "best = int(np.argmax(f1s))", "best = len(f1s) - 1 - int(np.argmax(f1s[::-1]))"),
        "stops before 0.95": ("for t in THRESHOLDS]", "for t in THRESHOLDS[:-1]]"),
        "returns the threshold's accuracy": (
            "return float(THRESHOLDS[best]), float(f1s[best])",
            "return float(THRESHOLDS[best]), float(accuracy_score(y_true, probs >= THRESHOLDS[best]))"),
    },
    "keyword-model-check": {
        "no recurrent layer (averages the embeddings)": (
            "layers.Bidirectional(layers.GRU(UNITS))(text)", "layers.GlobalAveragePooling1D()(text)"),
        "no mask_zero": ("layers.Embedding(VOCAB, EMBED_DIM, mask_zero=True)", "layers.Embedding(VOCAB, EMBED_DIM)"),
        "the keyword id fed as a number": (
            "layers.Flatten()(layers.Embedding(n_keywords, 8)(keyword_id))",
            'layers.Dense(8)(keras.ops.cast(keyword_id, "float32"))'),
        "the keyword ignored": ("layers.Concatenate()([text, keyword])", "text"),
    },
}
