"""The maker's tools: the wiring table and diagram, light-show previews, boot-time pin levels."""
