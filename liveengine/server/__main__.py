from liveengine.server.process import main

main()
