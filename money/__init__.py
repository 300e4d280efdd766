"""The shared kernel: errors, parsing, formatting and exchange rates.

It imports nothing of ours, so every app may import it and it can never pull an app in.
"""
