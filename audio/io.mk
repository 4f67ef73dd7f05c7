## audio input, features, intents (sources, capture, features, intent grammar)
