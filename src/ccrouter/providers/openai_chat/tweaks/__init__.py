"""CCR's transformer names as tweaks of the OpenAI chat-completions translation.

A config's `"transformer": {"use": [...], "<model>": {"use": [...]}}` names tweaks; `chain.build_chain` turns a
provider's list for one model into a `TweakChain` with hooks at four seams:

1. the Anthropic body, before translation (`cleancache`, `tooluse`);
2. the translated chat-completions request (`maxtoken`, `sampling`, `openrouter`, `groq`, `deepseek`, ...);
3. a non-streamed completion, before it becomes an Anthropic message (`enhancetool`, `tooluse`, `extrathinktag`);
4. the streamed chunks, before the stream state machine sees them (the same three, as stateful chunk filters).

Each module holds one group, with the provider quirks next to their name. Which function a name stands for, and
how its options are checked when the config loads, is the name's entry in the transformer registry
(`ccrouter.config.transformers`); this package's `__init__` imports nothing.
"""
