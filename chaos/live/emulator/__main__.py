from chaos.live.emulator.main import main

raise SystemExit(main())
