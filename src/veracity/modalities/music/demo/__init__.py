"""The offline music demo corpus generator (issue 12 item 3); see :mod:`.corpus`."""

from veracity.modalities.music.demo.corpus import DemoFile, generate

__all__ = ["DemoFile", "generate"]
