"""One module per channel family. Each turns provider traffic into bot.domain.InboundMessage
and sends bot.domain.OutboundReply back through the bot.ports.ReplySender interface; nothing
here imports the core's storage or web app."""
