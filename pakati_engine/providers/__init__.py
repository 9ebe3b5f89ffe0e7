"""Image models other than the canvas's own: remote services and other local models.

- :mod:`.types`: the provider protocol, the job a provider is given, its errors;
- :mod:`.cards`: model cards (what each model can do) and the cards that ship with Pakati;
- :mod:`.keys`: API keys and base URLs from the environment or ``.env``;
- :mod:`.registry`: which models are usable now, and choosing one per task with a reason;
- :mod:`.replicate_images`, :mod:`.hf_images`, :mod:`.local_images`: the providers, each
  through its official client (OpenAI's is :mod:`pakati.openai_images`: the engine imports
  no LLM package, and ``openai`` is one);
- :mod:`.retrying`: timeouts and ``Retry-After`` without blindly repeating a create;
- :mod:`.cache`: results cached by a hash of the request;
- :mod:`.compose`: a foreign region drawn on a crop and pasted inside its feathered mask.

Nothing here is imported by ``pakati_engine`` itself: a canvas with one model never loads it.
"""
