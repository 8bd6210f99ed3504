"""OrderBot: the order nerve centre inside WeCom and DingTalk."""

__version__ = "0.1.0"
