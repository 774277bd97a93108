from liveengine.cli import main

raise SystemExit(main())
