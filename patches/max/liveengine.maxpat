{
 "patcher": {
  "fileversion": 1,
  "appversion": {
   "major": 8,
   "minor": 5,
   "revision": 0,
   "architecture": "x64",
   "modernui": 1
  },
  "classnamespace": "box",
  "rect": [
   100,
   100,
   860,
   460
  ],
  "openinpresentation": 0,
  "default_fontsize": 12.0,
  "boxes": [
   {
    "box": {
     "id": "comment",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      10,
      760,
      36
     ],
     "text": "liveengine: MIDI notes 36-99 hit the 8x8 grid (note 36 = row 0 col 0, bottom left) over OSC; dials move the plane. Needs `liveengine play` running (OSC on 127.0.0.1:9000). Feedback arrives on port 9001 and is printed to the Max console."
    }
   },
   {
    "box": {
     "id": "midiin",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      20,
      60,
      50,
      22
     ],
     "text": "midiin",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "midiout",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      400,
      55,
      22
     ],
     "text": "midiout"
    }
   },
   {
    "box": {
     "id": "midiparse",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 8,
     "patching_rect": [
      100,
      90,
      100,
      22
     ],
     "text": "midiparse",
     "outlettype": [
      "",
      "",
      "",
      "",
      "",
      "",
      "",
      ""
     ]
    }
   },
   {
    "box": {
     "id": "unpack",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      100,
      120,
      70,
      22
     ],
     "text": "unpack 0 0",
     "outlettype": [
      "",
      ""
     ]
    }
   },
   {
    "box": {
     "id": "gate",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      100,
      180,
      300,
      22
     ],
     "text": "expr if($i2 > 0 && $i1 >= 36 && $i1 <= 99\\, $i1 - 36\\, -1)",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "valid",
     "maxclass": "newobj",
     "numinlets": 3,
     "numoutlets": 2,
     "patching_rect": [
      100,
      210,
      70,
      22
     ],
     "text": "split 0 63",
     "outlettype": [
      "",
      ""
     ]
    }
   },
   {
    "box": {
     "id": "trig",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      100,
      240,
      40,
      22
     ],
     "text": "t i i",
     "outlettype": [
      "",
      ""
     ]
    }
   },
   {
    "box": {
     "id": "row",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      100,
      270,
      80,
      22
     ],
     "text": "expr $i1 / 8",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "col",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      200,
      270,
      80,
      22
     ],
     "text": "expr $i1 % 8",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "vel",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      300,
      150,
      50,
      22
     ],
     "text": "/ 127.",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "pack",
     "maxclass": "newobj",
     "numinlets": 3,
     "numoutlets": 1,
     "patching_rect": [
      100,
      300,
      120,
      22
     ],
     "text": "pack 0 0 0.",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "prepend_pad",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      100,
      330,
      90,
      22
     ],
     "text": "prepend /pad",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "udpsend",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      100,
      370,
      150,
      22
     ],
     "text": "udpsend 127.0.0.1 9000"
    }
   },
   {
    "box": {
     "id": "dial_zoom",
     "maxclass": "live.dial",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      420,
      60,
      44,
      48
     ],
     "outlettype": [
      "",
      ""
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "liveengine zoom",
       "parameter_shortname": "zoom",
       "parameter_type": 0,
       "parameter_mmin": 0.05,
       "parameter_mmax": 8.0,
       "parameter_initial_enable": 1,
       "parameter_initial": [
        1.0
       ]
      }
     }
    }
   },
   {
    "box": {
     "id": "param_zoom",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      420,
      130,
      140,
      22
     ],
     "text": "prepend /param zoom",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "dial_rotation",
     "maxclass": "live.dial",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      490,
      60,
      44,
      48
     ],
     "outlettype": [
      "",
      ""
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "liveengine rotation",
       "parameter_shortname": "rotation",
       "parameter_type": 0,
       "parameter_mmin": -360.0,
       "parameter_mmax": 360.0,
       "parameter_initial_enable": 1,
       "parameter_initial": [
        0.0
       ]
      }
     }
    }
   },
   {
    "box": {
     "id": "param_rotation",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      490,
      155,
      140,
      22
     ],
     "text": "prepend /param rotation",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "dial_center_x",
     "maxclass": "live.dial",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      560,
      60,
      44,
      48
     ],
     "outlettype": [
      "",
      ""
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "liveengine center_x",
       "parameter_shortname": "center_x",
       "parameter_type": 0,
       "parameter_mmin": -4.0,
       "parameter_mmax": 4.0,
       "parameter_initial_enable": 1,
       "parameter_initial": [
        0.0
       ]
      }
     }
    }
   },
   {
    "box": {
     "id": "param_center_x",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      560,
      130,
      140,
      22
     ],
     "text": "prepend /param center_x",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "dial_center_y",
     "maxclass": "live.dial",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      630,
      60,
      44,
      48
     ],
     "outlettype": [
      "",
      ""
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "liveengine center_y",
       "parameter_shortname": "center_y",
       "parameter_type": 0,
       "parameter_mmin": -4.0,
       "parameter_mmax": 4.0,
       "parameter_initial_enable": 1,
       "parameter_initial": [
        0.0
       ]
      }
     }
    }
   },
   {
    "box": {
     "id": "param_center_y",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      630,
      155,
      140,
      22
     ],
     "text": "prepend /param center_y",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "dial_gain",
     "maxclass": "live.dial",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      700,
      60,
      44,
      48
     ],
     "outlettype": [
      "",
      ""
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "liveengine gain",
       "parameter_shortname": "gain",
       "parameter_type": 0,
       "parameter_mmin": 0.0,
       "parameter_mmax": 2.0,
       "parameter_initial_enable": 1,
       "parameter_initial": [
        1.0
       ]
      }
     }
    }
   },
   {
    "box": {
     "id": "param_gain",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      700,
      130,
      140,
      22
     ],
     "text": "prepend /param gain",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "panic_button",
     "maxclass": "live.text",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      420,
      200,
      60,
      20
     ],
     "text": "panic",
     "outlettype": [
      "",
      ""
     ],
     "parameter_enable": 1,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "liveengine panic",
       "parameter_shortname": "panic",
       "parameter_type": 2,
       "parameter_enum": [
        "off",
        "on"
       ]
      }
     }
    }
   },
   {
    "box": {
     "id": "panic_msg",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      420,
      230,
      50,
      22
     ],
     "text": "/panic",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "loadbang",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      520,
      260,
      60,
      22
     ],
     "text": "loadbang",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "subscribe_msg",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      520,
      290,
      100,
      22
     ],
     "text": "/subscribe 9001",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "udpreceive",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      420,
      330,
      110,
      22
     ],
     "text": "udpreceive 9001",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "print",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      420,
      360,
      100,
      22
     ],
     "text": "print liveengine"
    }
   }
  ],
  "lines": [
   {
    "patchline": {
     "source": [
      "dial_zoom",
      0
     ],
     "destination": [
      "param_zoom",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "param_zoom",
      0
     ],
     "destination": [
      "udpsend",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "dial_rotation",
      0
     ],
     "destination": [
      "param_rotation",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "param_rotation",
      0
     ],
     "destination": [
      "udpsend",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "dial_center_x",
      0
     ],
     "destination": [
      "param_center_x",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "param_center_x",
      0
     ],
     "destination": [
      "udpsend",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "dial_center_y",
      0
     ],
     "destination": [
      "param_center_y",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "param_center_y",
      0
     ],
     "destination": [
      "udpsend",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "dial_gain",
      0
     ],
     "destination": [
      "param_gain",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "param_gain",
      0
     ],
     "destination": [
      "udpsend",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "midiin",
      0
     ],
     "destination": [
      "midiout",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "midiin",
      0
     ],
     "destination": [
      "midiparse",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "midiparse",
      0
     ],
     "destination": [
      "unpack",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "unpack",
      0
     ],
     "destination": [
      "gate",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "unpack",
      1
     ],
     "destination": [
      "gate",
      1
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "unpack",
      1
     ],
     "destination": [
      "vel",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "gate",
      0
     ],
     "destination": [
      "valid",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "valid",
      0
     ],
     "destination": [
      "trig",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "trig",
      1
     ],
     "destination": [
      "col",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "trig",
      0
     ],
     "destination": [
      "row",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "vel",
      0
     ],
     "destination": [
      "pack",
      2
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "col",
      0
     ],
     "destination": [
      "pack",
      1
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "row",
      0
     ],
     "destination": [
      "pack",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "pack",
      0
     ],
     "destination": [
      "prepend_pad",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "prepend_pad",
      0
     ],
     "destination": [
      "udpsend",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "panic_button",
      0
     ],
     "destination": [
      "panic_msg",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "panic_msg",
      0
     ],
     "destination": [
      "udpsend",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "loadbang",
      0
     ],
     "destination": [
      "subscribe_msg",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "subscribe_msg",
      0
     ],
     "destination": [
      "udpsend",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "udpreceive",
      0
     ],
     "destination": [
      "print",
      0
     ]
    }
   }
  ],
  "dependency_cache": [],
  "autosave": 0
 }
}
