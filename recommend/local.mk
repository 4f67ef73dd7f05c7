## recommend/
