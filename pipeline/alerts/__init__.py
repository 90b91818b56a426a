"""Tells someone how a run ended: the hook commands and the ping URL of the config's [hooks]."""
