"""The wiring on top: settings, the runtime, the channels' setup, the CLI, the replay, the
classifier tool and the web app. Imports everything; nothing imports it."""
