"""One module per channel family. Each turns provider traffic into InboundMessage and sends
OutboundReply back through the ReplySender interface (bot.contract): nothing here imports
the core beyond its contract."""
