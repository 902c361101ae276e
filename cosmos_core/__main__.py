from cosmos_core.cli import console

console()
