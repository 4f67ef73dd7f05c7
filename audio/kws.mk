## speech corpus, keyword-spotting CNN, training, evaluation
